"""Word -> region alignment as a chain MRF solved exactly by dynamic programming (002, 3.1.4).

For a sentence of N words and an image of M regions, the latent alignment a_j in {0..M-1} of
word j maximises

    F(a) = sum_j  v_{a_j} . s_j   +   beta * sum_{j<N-1} 1[a_j = a_{j+1}]

The paper writes this as an energy with unary psi_j(a_j = t) = v_t . s_j and pairwise
beta * 1[a_j = a_{j+1}] that it "minimises"; since both terms are affinities (a larger dot product
means a better match, and beta "controls the affinity towards longer word phrases"), the
well-posed reading is the maximisation above (equivalently, minimising -F). beta = 0 gives each
word its best region independently; a large beta gives the whole sentence one region.

`viterbi` solves it in O(N * M) (max-sum over the chain: staying on a region earns beta, moving
costs nothing, so each step needs only the best and second-best previous scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """Words [start, end) of a sentence aligned to one region."""

    region: int
    start: int
    end: int


def chain_score(unary: np.ndarray, assignment: np.ndarray, beta: float) -> float:
    """F(a) for unary `[N, M]` and assignment `[N]` (the objective `viterbi` maximises)."""
    unary = np.asarray(unary, np.float64)
    a = np.asarray(assignment, np.int64)
    score = float(unary[np.arange(len(a)), a].sum())
    return score + float(beta) * float(np.sum(a[1:] == a[:-1]))


def viterbi(unary: np.ndarray, beta: float) -> tuple[np.ndarray, float]:
    """The exact maximiser of F: (assignment `[N]` int, its score).

    Args:
      unary: `[N, M]` word-region affinities v_i . s_j (row j = word j).
      beta: reward for consecutive words sharing a region (any real; the paper uses beta >= 0).
    """
    unary = np.asarray(unary, np.float64)
    if unary.ndim != 2 or unary.shape[1] == 0:
        raise ValueError(f"unary must be [words, regions] with regions > 0, got {unary.shape}")
    n, m = unary.shape
    if n == 0:
        return np.zeros([0], np.int64), 0.0
    beta = float(beta)
    back = np.zeros((n, m), np.int64)
    dp = unary[0].copy()
    regions = np.arange(m)
    for j in range(1, n):
        # Best predecessor other than m itself: the overall best, or the runner-up where the best
        # is m. Staying on m earns beta; ties prefer staying (longer phrases).
        stay = dp + beta
        if m == 1:
            back[j] = 0
            dp = unary[j] + stay
            continue
        order = np.argsort(-dp, kind="stable")
        other = np.where(regions == order[0], order[1], order[0])
        take_stay = stay >= dp[other]
        back[j] = np.where(take_stay, regions, other)
        dp = unary[j] + np.where(take_stay, stay, dp[other])
    a = np.zeros(n, np.int64)
    a[-1] = int(np.argmax(dp))
    for j in range(n - 1, 0, -1):
        a[j - 1] = back[j, a[j]]
    return a, float(dp[a[-1]])


def segments(assignment: np.ndarray) -> list[Segment]:
    """Maximal runs of consecutive words on the same region, in sentence order."""
    a = np.asarray(assignment)
    out: list[Segment] = []
    start = 0
    for j in range(1, len(a) + 1):
        if j == len(a) or a[j] != a[start]:
            out.append(Segment(int(a[start]), start, j))
            start = j
    return out
