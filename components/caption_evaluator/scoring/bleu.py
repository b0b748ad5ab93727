"""BLEU-1..4 with coco-caption semantics (`pycocoevalcap/bleu/bleu_scorer.py`, option "closest").

Corpus level: clipped n-gram matches and candidate n-gram counts are summed over all items; the
brevity penalty compares the total candidate length with the sum, over items, of the reference
length closest to each candidate (ties go to the shorter reference). coco-caption's smoothing
constants are kept: every precision is (matches + 1e-15) / (total + 1e-9), so a missing order
gives ~0 rather than a division error. Per-item scores are coco-caption's sentence-level values
(its `bleu_list`): the same formula on one item.
"""

from __future__ import annotations

import math

import numpy as np

from components.caption_evaluator.scoring.ngrams import MAX_N, NgramTable, lookup

TINY = 1e-15
SMALL = 1e-9


def bleu(table: NgramTable) -> tuple[list[float], np.ndarray]:
    """Corpus BLEU-1..4 and per-item BLEU (shape [items, 4]) from an n-gram table."""
    n_items = table.n_items
    g = max(table.n_ngrams, 1)
    is_cand = table.row_sentence < n_items
    c_item = table.row_sentence[is_cand]
    c_gram = table.row_ngram[is_cand]
    c_count = table.row_count[is_cand]

    # Max count of each n-gram over an item's references.
    r_item = table.item_of_sentence[table.row_sentence[~is_cand]]
    r_key = r_item * g + table.row_ngram[~is_cand]
    order = np.argsort(r_key, kind="stable")
    r_key_sorted = r_key[order]
    r_count_sorted = table.row_count[~is_cand][order]
    if len(r_key_sorted):
        ukey, first = np.unique(r_key_sorted, return_index=True)
        max_ref = np.maximum.reduceat(r_count_sorted, first)
    else:
        ukey, max_ref = r_key_sorted, r_count_sorted
    clipped = np.minimum(c_count, lookup(ukey, max_ref, c_item * g + c_gram, 0))
    correct = np.bincount(
        c_item * MAX_N + table.ngram_order[c_gram], weights=clipped, minlength=n_items * MAX_N
    ).reshape(n_items, MAX_N)

    testlen = table.lengths[:n_items]
    guess = np.maximum(0, testlen[:, None] - np.arange(MAX_N)[None, :])
    reflen = _closest_ref_lengths(table, testlen)

    # Per item, in coco-caption's operation order.
    per_item = np.empty((n_items, MAX_N))
    acc = np.ones(n_items)
    for k in range(MAX_N):
        acc = acc * ((correct[:, k] + TINY) / (guess[:, k] + SMALL))
        per_item[:, k] = acc ** (1.0 / (k + 1))
    ratio = (testlen + TINY) / (reflen + SMALL)
    short = ratio < 1
    if short.any():
        per_item[short] *= np.exp(1 - 1 / ratio[short])[:, None]

    # Corpus level.
    total_correct = correct.sum(axis=0)
    total_guess = guess.sum(axis=0)
    total_test = float(testlen.sum())
    total_ref = float(reflen.sum())
    scores = []
    b = 1.0
    for k in range(MAX_N):
        b *= float(total_correct[k] + TINY) / (float(total_guess[k]) + SMALL)
        scores.append(b ** (1.0 / (k + 1)))
    corpus_ratio = (total_test + TINY) / (total_ref + SMALL)
    if corpus_ratio < 1:
        scores = [s * math.exp(1 - 1 / corpus_ratio) for s in scores]
    return scores, per_item


def _closest_ref_lengths(table: NgramTable, testlen: np.ndarray) -> np.ndarray:
    """Per item, the reference length closest to the candidate's (the shorter one on a tie)."""
    n_items = table.n_items
    ref_lengths = table.lengths[n_items:]
    ref_item = table.item_of_sentence[n_items:]
    diff = np.abs(ref_lengths - testlen[ref_item])
    # Lexicographic min of (diff, length): lengths are far below 2**31.
    key = diff * (1 << 31) + ref_lengths
    starts = table.ref_start[:-1] - n_items
    best = np.minimum.reduceat(key, starts) if len(key) else np.zeros(0, dtype=np.int64)
    return (best % (1 << 31)).astype(np.float64)
