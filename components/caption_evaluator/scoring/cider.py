"""CIDEr-D with coco-caption semantics (`pycocoevalcap/cider/cider_scorer.py`).

TF-IDF vectors of 1..4-grams; the document frequency of an n-gram is the number of evaluated items
whose references contain it (so the idf comes from the references of the set being scored, and a
single-item set scores 0, as in coco-caption); candidate weights are clipped at the reference's
(`min(hyp, ref) * ref`); a Gaussian length penalty with sigma = 6 on the difference of the two
sentences' *bigram* counts (coco-caption's `length` counts bigrams); the cosine is averaged over
n and references, and multiplied by 10.
"""

from __future__ import annotations

import numpy as np

from components.caption_evaluator.scoring.ngrams import MAX_N, NgramTable, lookup

SIGMA = 6.0


def cider_d(table: NgramTable, sigma: float = SIGMA) -> tuple[float, np.ndarray]:
    """Corpus CIDEr-D (mean over items) and the per-item scores."""
    n_items = table.n_items
    if n_items == 0:
        return float("nan"), np.zeros(0)
    g = max(table.n_ngrams, 1)
    sent = table.row_sentence
    gram = table.row_ngram
    is_cand = sent < n_items
    item = table.item_of_sentence[sent]
    order = table.ngram_order[gram].astype(np.int64)

    # Document frequency: items whose references contain the n-gram.
    ref_pairs = np.unique(item[~is_cand] * g + gram[~is_cand])
    df = np.bincount(ref_pairs % g, minlength=g).astype(np.float64)
    ref_len = np.log(float(n_items))
    weight = table.row_count * (ref_len - np.log(np.maximum(1.0, df[gram])))

    n_sent = len(table.lengths)
    norm = np.sqrt(
        np.bincount(sent * MAX_N + order, weights=weight * weight, minlength=n_sent * MAX_N)
    ).reshape(n_sent, MAX_N)
    # coco-caption's "length" is the number of bigrams.
    length = np.maximum(table.lengths - 1, 0).astype(np.float64)

    # Clipped dot products: every reference row joined with the candidate row of the same n-gram.
    cand_key = (
        item[is_cand] * g + gram[is_cand]
    )  # sorted: candidates come first, by (sentence, gram)
    cand_weight = weight[is_cand]
    r_rows = ~is_cand
    r_weight = weight[r_rows]
    h_weight = lookup(cand_key, cand_weight, item[r_rows] * g + gram[r_rows], 0.0)
    contrib = np.minimum(h_weight, r_weight) * r_weight
    n_refs_total = n_sent - n_items
    dots = np.bincount(
        (sent[r_rows] - n_items) * MAX_N + order[r_rows],
        weights=contrib,
        minlength=n_refs_total * MAX_N,
    ).reshape(n_refs_total, MAX_N)

    ref_item = table.item_of_sentence[n_items:]
    norm_h = norm[ref_item]
    norm_r = norm[n_items:]
    denom = norm_h * norm_r
    ok = (norm_h != 0) & (norm_r != 0)
    dots = np.where(ok, dots / np.where(ok, denom, 1.0), dots)
    delta = length[ref_item] - length[n_items:]
    dots = dots * np.exp(-(delta * delta) / (2 * sigma**2))[:, None]

    # Sum over references, mean over n, divide by the number of references, times 10.
    per_item_vec = np.add.reduceat(dots, table.ref_start[:-1] - n_items, axis=0)
    per_item = per_item_vec.mean(axis=1) / table.n_refs * 10.0
    return float(np.mean(per_item)), per_item
