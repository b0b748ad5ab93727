"""Vectorised n-gram counts shared by BLEU and CIDEr-D (one counting pass instead of coco-caption's two).

Every distinct n-gram (n = 1..4) of the evaluated set gets an integer id; each sentence becomes rows
(sentence, n-gram id, count). Both metrics then work on numpy arrays: per-item joins between a
candidate's rows and its references' rows are `searchsorted` lookups on int64 keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_N = 4


@dataclass(frozen=True)
class NgramTable:
    """Counts of every 1..4-gram in `n_items` candidates followed by their references.

    Sentences 0..n_items-1 are the candidates (one per item); the rest are references, grouped by
    item in item order. Rows are sorted by (sentence, n-gram id).
    """

    n_items: int
    n_ngrams: int
    lengths: np.ndarray  # tokens per sentence
    item_of_sentence: np.ndarray  # candidates: own index; references: their item
    ref_start: np.ndarray  # first reference sentence of each item (n_items + 1 offsets)
    row_sentence: np.ndarray
    row_ngram: np.ndarray
    row_count: np.ndarray
    ngram_order: np.ndarray  # 0-based order (n - 1) of each n-gram id

    @property
    def n_refs(self) -> np.ndarray:
        """References per item."""
        return np.diff(self.ref_start)


def build(
    candidates: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> NgramTable:
    """Count n-grams of candidate token lists and, per item, their reference token lists."""
    n_items = len(candidates)
    sentences: list[Sequence[str]] = list(candidates)
    ref_counts = np.fromiter((len(r) for r in references), dtype=np.int64, count=n_items)
    for refs in references:
        sentences.extend(refs)
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    item_of_sentence = np.concatenate(
        [
            np.arange(n_items, dtype=np.int64),
            np.repeat(np.arange(n_items, dtype=np.int64), ref_counts),
        ]
    )
    ref_start = np.concatenate([[0], np.cumsum(ref_counts)]).astype(np.int64) + n_items

    vocab: dict[str, int] = {}
    setdefault = vocab.setdefault
    total = int(lengths.sum())
    ids = np.fromiter(
        (setdefault(tok, len(vocab)) for sent in sentences for tok in sent),
        dtype=np.int64,
        count=total,
    )
    n_sent = len(sentences)
    sent_of_tok = np.repeat(np.arange(n_sent, dtype=np.int64), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if n_sent else lengths
    pos_in_sent = np.arange(total, dtype=np.int64) - starts[sent_of_tok] if total else sent_of_tok
    remaining = lengths[sent_of_tok] - pos_in_sent  # tokens from this position to the sentence end

    vocab_size = max(len(vocab), 1)
    code = ids
    gid_parts, sent_parts, order_parts = [], [], []
    offset = 0
    for n in range(1, MAX_N + 1):
        valid = np.nonzero(remaining >= n)[0]
        if n > 1:
            # Extend (n-1)-gram codes (dense, < #distinct) by the next token: no int64 overflow.
            raw = code[valid] * vocab_size + ids[valid + n - 1]
        else:
            raw = code[valid]
        uniq, dense = np.unique(raw, return_inverse=True)
        gid_parts.append(dense + offset)
        sent_parts.append(sent_of_tok[valid])
        order_parts.append(np.full(len(uniq), n - 1, dtype=np.int8))
        offset += len(uniq)
        full = np.full(total, -1, dtype=np.int64)
        full[valid] = dense
        code = full
    n_ngrams = offset
    gids = np.concatenate(gid_parts) if gid_parts else np.zeros(0, dtype=np.int64)
    sents = np.concatenate(sent_parts) if sent_parts else np.zeros(0, dtype=np.int64)
    key = sents * max(n_ngrams, 1) + gids
    ukey, counts = np.unique(key, return_counts=True)
    return NgramTable(
        n_items=n_items,
        n_ngrams=n_ngrams,
        lengths=lengths,
        item_of_sentence=item_of_sentence,
        ref_start=ref_start,
        row_sentence=ukey // max(n_ngrams, 1),
        row_ngram=ukey % max(n_ngrams, 1),
        row_count=counts.astype(np.int64),
        ngram_order=np.concatenate(order_parts) if order_parts else np.zeros(0, dtype=np.int8),
    )


def lookup(
    keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float = 0
) -> np.ndarray:
    """values[keys == query] for each query (keys sorted, unique); `default` where absent."""
    if len(keys) == 0:
        return np.full(len(query), default, dtype=values.dtype if len(values) else np.float64)
    idx = np.searchsorted(keys, query)
    idx_c = np.minimum(idx, len(keys) - 1)
    found = keys[idx_c] == query
    return np.where(found, values[idx_c], default)
