"""ROUGE-L with coco-caption semantics (`pycocoevalcap/rouge/rouge.py`).

Per item: the longest common subsequence with each reference gives a precision (over the
candidate's length) and a recall (over the reference's); the best precision and the best recall —
each maximised separately over the references — combine into F with beta = 1.2. The corpus score
is the mean over items. Sentences are split on single spaces, as coco-caption does (so an empty
caption is one empty token).

The LCS length uses the bit-parallel algorithm of Allison & Dix / Hyyrö on Python integers:
O(len(candidate)) big-integer operations per reference instead of a quadratic table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BETA = 1.2


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences."""
    if len(a) < len(b):
        a, b = b, a  # bits over the shorter sequence
    masks: dict[str, int] = {}
    for i, tok in enumerate(b):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for tok in a:
        m = masks.get(tok)
        if m is None:
            continue
        u = v & m
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def rouge_l_item(
    candidate: Sequence[str], references: Sequence[Sequence[str]], beta: float = BETA
) -> float:
    """coco-caption's `Rouge.calc_score` for one candidate and its references."""
    prec_max = 0.0
    rec_max = 0.0
    for ref in references:
        lcs = lcs_length(ref, candidate)
        prec = lcs / float(len(candidate))
        rec = lcs / float(len(ref))
        prec_max = max(prec_max, prec)
        rec_max = max(rec_max, rec)
    if prec_max != 0 and rec_max != 0:
        return ((1 + beta**2) * prec_max * rec_max) / float(rec_max + beta**2 * prec_max)
    return 0.0


def rouge_l(
    candidates: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[float, np.ndarray]:
    """Corpus ROUGE-L (mean over items) and per-item scores, from space-joined token strings."""
    scores = np.array(
        [
            rouge_l_item(cand.split(" "), [r.split(" ") for r in refs])
            for cand, refs in zip(candidates, references, strict=True)
        ],
        dtype=np.float64,
    )
    return (float(np.mean(scores)) if len(scores) else float("nan")), scores
