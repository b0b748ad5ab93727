"""Image-sentence scores over whole splits in NumPy (eq. 8), chunked to bound memory.

The training graph computes the same quantity in TF (`model.pair_scores`); this twin serves
evaluation, the retrieval index and the CLI, which hold embeddings rather than a model.
"""

from __future__ import annotations

import numpy as np


def image_sentence_scores(
    regions: np.ndarray,
    words: np.ndarray,
    word_mask: np.ndarray,
    *,
    image_chunk: int = 64,
    sentence_chunk: int = 512,
) -> np.ndarray:
    """S `[N, M]` = sum_t max_i v_i . s_t for images `[N, R, h]` and sentences `[M, T, h]`.

    Memory per chunk: image_chunk * R * sentence_chunk * T floats.
    """
    regions = np.asarray(regions, np.float32)
    words = np.asarray(words, np.float32)
    mask = np.asarray(word_mask, np.float32)
    n, r, h = regions.shape
    m, t, _ = words.shape
    out = np.zeros((n, m), np.float32)
    for j in range(0, m, sentence_chunk):
        w = words[j : j + sentence_chunk]
        mj = len(w)
        flat_w = w.reshape(-1, h).T  # [h, mj*T]
        for i in range(0, n, image_chunk):
            v = regions[i : i + image_chunk]
            dots = (v.reshape(-1, h) @ flat_w).reshape(len(v), r, mj, t)
            best = dots.max(axis=1)  # [n, mj, T]
            out[i : i + len(v), j : j + mj] = (best * mask[None, j : j + mj]).sum(-1)
    return out


def unaries(regions: np.ndarray, words: np.ndarray, length: int) -> np.ndarray:
    """`[length, R]` v_i . s_t of one sentence's first `length` words with one image's regions."""
    return np.asarray(words, np.float32)[:length] @ np.asarray(regions, np.float32).T
