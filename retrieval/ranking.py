"""Image-sentence retrieval metrics (002, section 4.1 / Table 1) and their chance levels.

Protocol: over a held-out split, every image queries all sentences ("image annotation",
image -> sentence) and every sentence queries all images ("image search", sentence -> image),
ranked by a score matrix. The rank of a query is the rank of its best-ranked ground-truth item
(1-based; the paper's "rank of the closest ground truth result"). R@K is the percentage of
queries with rank <= K; Med r the median rank.

Ties are scored by their expectation under random tie-breaking: the rank is the expected rank
(t irrelevant items tied with the best relevant score, among g tied relevant ones, add
t / (g + 1)) and R@K the probability that the rank is <= K. A scorer that gives everything the
same score gets exactly the chance levels, never rank 1. Learned continuous scores have no ties,
so for them these are the usual rank and recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

KS = (1, 5, 10)
IMAGE_TO_SENTENCE = "image_to_sentence"
SENTENCE_TO_IMAGE = "sentence_to_image"


@dataclass(frozen=True)
class DirectionMetrics:
    """R@K in percent, median and mean rank of one retrieval direction."""

    r1: float
    r5: float
    r10: float
    median_rank: float
    mean_rank: float
    queries: int
    candidates: int

    def to_dict(self) -> dict:
        return asdict(self)


def _rank_counts(scores: np.ndarray, relevant: np.ndarray):
    """Per query: irrelevant candidates above the best relevant score, and the ties at it."""
    scores = np.asarray(scores, np.float64)
    relevant = np.asarray(relevant, bool)
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must be equal 2-D")
    if not relevant.any(axis=1).all():
        missing = int(np.flatnonzero(~relevant.any(axis=1))[0])
        raise ValueError(f"query {missing} has no relevant candidate")
    best = np.where(relevant, scores, -np.inf).max(axis=1, keepdims=True)
    above = np.sum(~relevant & (scores > best), axis=1)
    tied_irrelevant = np.sum(~relevant & (scores == best), axis=1)
    tied_relevant = np.sum(relevant & (scores == best), axis=1)
    return above, tied_irrelevant, tied_relevant


def first_relevant_ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of each query's best-ranked relevant candidate (expected rank under ties).

    Args:
      scores: `[Q, C]` higher = better.
      relevant: `[Q, C]` bool; every query needs at least one relevant candidate.
    """
    above, t, g = _rank_counts(scores, relevant)
    # Among t irrelevant and g relevant tied items in random order, E[irrelevant before the
    # first relevant] = t / (g + 1).
    return 1.0 + above + t / (g + 1.0)


def _recall_probability(above: np.ndarray, t: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """P(rank <= k) per query under random tie-breaking.

    rank = above + 1 + X, where X (tied irrelevant items before the first tied relevant one) has
    P(X >= x) = prod_{i<x} (t - i) / (t + g - i); P(rank <= k) = 1 - P(X >= k - above).
    """
    out = np.zeros(len(above))
    for q in range(len(above)):
        x = k - int(above[q])
        if x <= 0:
            continue
        tail = 1.0
        for i in range(min(x, int(t[q]) + 1)):
            tail *= (t[q] - i) / (t[q] + g[q] - i)
        out[q] = 1.0 - tail
    return out


def direction_metrics(
    scores: np.ndarray, relevant: np.ndarray, ks: Sequence[int] = KS
) -> DirectionMetrics:
    """R@K (exact under random tie-breaking), median and mean rank of `[Q, C]` scores."""
    above, t, g = _rank_counts(scores, relevant)
    ranks = 1.0 + above + t / (g + 1.0)
    recall = {k: float(100.0 * _recall_probability(above, t, g, k).mean()) for k in ks}
    return DirectionMetrics(
        r1=recall.get(1, float("nan")),
        r5=recall.get(5, float("nan")),
        r10=recall.get(10, float("nan")),
        median_rank=float(np.median(ranks)),
        mean_rank=float(np.mean(ranks)),
        queries=int(len(ranks)),
        candidates=int(np.asarray(scores).shape[1]),
    )


def relevance(sentence_image: np.ndarray, n_images: int) -> np.ndarray:
    """`[N_images, M_sentences]` bool: sentence l describes image k."""
    sentence_image = np.asarray(sentence_image, np.int64)
    return np.arange(n_images)[:, None] == sentence_image[None, :]


def evaluate(
    image_sentence_scores: np.ndarray,
    sentence_image: np.ndarray,
    sentence_image_scores: np.ndarray | None = None,
) -> dict[str, DirectionMetrics]:
    """Both directions from `[N, M]` scores (S_kl: image k, sentence l).

    Args:
      image_sentence_scores: ranks sentences for each image (and images for each sentence,
        unless `sentence_image_scores` is given).
      sentence_image: `[M]` index of the image each sentence describes.
      sentence_image_scores: optional `[M, N]` scores for the sentence -> image direction (a
        baseline that scores the two directions differently).
    """
    scores = np.asarray(image_sentence_scores)
    rel = relevance(sentence_image, scores.shape[0])
    s2i = scores.T if sentence_image_scores is None else np.asarray(sentence_image_scores)
    return {
        IMAGE_TO_SENTENCE: direction_metrics(scores, rel),
        SENTENCE_TO_IMAGE: direction_metrics(s2i, rel.T),
    }


def _miss_probability(candidates: int, relevant: int, r: int) -> float:
    """P(no relevant item in the top r of a uniformly random ranking) = C(C-g, r) / C(C, r)."""
    if r >= candidates - relevant + 1:
        return 0.0
    p = 1.0
    for i in range(relevant):
        p *= (candidates - r - i) / (candidates - i)
    return p


def chance(
    relevant_counts: Sequence[int], candidates: int, ks: Sequence[int] = KS
) -> DirectionMetrics:
    """Exact metrics of a uniformly random ranking: queries with g_q relevant of `candidates`.

    R@K = mean_q P(rank_q <= K); the median rank is the median of the pooled rank distribution
    (smallest r with mean_q P(rank_q <= r) >= 1/2); the mean rank is mean_q E[rank_q].
    """
    counts = [int(g) for g in relevant_counts]
    if not counts or min(counts) < 1 or max(counts) > candidates:
        raise ValueError("every query needs 1..candidates relevant items")

    def cdf(r: int) -> float:
        return float(np.mean([1.0 - _miss_probability(candidates, g, r) for g in counts]))

    recall = {k: 100.0 * cdf(k) for k in ks}
    lo, hi = 1, candidates
    while lo < hi:  # cdf is non-decreasing in r
        mid = (lo + hi) // 2
        if cdf(mid) >= 0.5:
            hi = mid
        else:
            lo = mid + 1
    # E[min rank of g among C] = (C + 1) / (g + 1).
    mean_rank = float(np.mean([(candidates + 1) / (g + 1) for g in counts]))
    return DirectionMetrics(
        r1=recall.get(1, float("nan")),
        r5=recall.get(5, float("nan")),
        r10=recall.get(10, float("nan")),
        median_rank=float(lo),
        mean_rank=mean_rank,
        queries=len(counts),
        candidates=int(candidates),
    )


def chance_levels(sentence_image: np.ndarray, n_images: int) -> dict[str, DirectionMetrics]:
    """Chance for both directions of a split (image k has as many relevant sentences as it has)."""
    counts = np.bincount(np.asarray(sentence_image, np.int64), minlength=n_images)
    if (counts == 0).any():
        raise ValueError(f"image {int(np.flatnonzero(counts == 0)[0])} has no sentence")
    m = int(len(sentence_image))
    return {
        IMAGE_TO_SENTENCE: chance(counts.tolist(), m),
        SENTENCE_TO_IMAGE: chance([1] * m, n_images),
    }


def recall_sum(metrics: dict[str, DirectionMetrics]) -> float:
    """R@1 + R@5 + R@10 over both directions: the model-selection criterion on validation."""
    return float(sum(m.r1 + m.r5 + m.r10 for m in metrics.values()))
