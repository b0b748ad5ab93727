"""Nearest-neighbour baselines (002, section 4.2 / Table 2) for captioning and for retrieval.

Captioning (the paper's baseline): describe each test image with a sentence of the most similar
training image by L2 distance of the global (fc7-like) features. We take that image's first
sentence (the paper does not say which one).

Retrieval (ours; the paper compares retrieval only with other published models): no joint
space, only the two single-modality neighbourhoods the captioning baseline uses, bridged by the
training pairs.
  image -> sentence: find the query image's nearest training image (L2 on global features);
    score each candidate sentence by its best TF-IDF cosine with that training image's sentences.
  sentence -> image: find the query sentence's most similar training sentence (TF-IDF cosine);
    score each candidate image by minus its L2 distance to that sentence's training image.
TF-IDF uses 002's tokenisation and the training sentences' document frequencies.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from retrieval.data import AlignmentSplit
from vistflow.vocabulary import tokenize


def nearest_images(queries: np.ndarray, references: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Index of each query's nearest reference by L2 distance (`[Q, D]` vs `[N, D]` -> `[Q]`)."""
    queries = np.asarray(queries, np.float64)
    references = np.asarray(references, np.float64)
    ref_sq = (references**2).sum(axis=1)
    out = np.zeros(len(queries), np.int64)
    for i in range(0, len(queries), chunk):
        q = queries[i : i + chunk]
        d = ref_sq[None, :] - 2.0 * q @ references.T  # + |q|^2, constant per row
        out[i : i + chunk] = d.argmin(axis=1)
    return out


def l2_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


class Tfidf:
    """TF-IDF sentence vectors over a training corpus (sparse, L2-normalised)."""

    def __init__(self, corpus: Sequence[str]):
        df: Counter = Counter()
        for s in corpus:
            df.update(set(tokenize(s)))
        self.vocab = {w: i for i, w in enumerate(sorted(df))}
        n = len(corpus)
        self.idf = np.asarray([math.log((1 + n) / (1 + df[w])) + 1.0 for w in sorted(df)])

    def vectors(self, sentences: Sequence[str]):
        from scipy import sparse

        rows, cols, vals = [], [], []
        for r, s in enumerate(sentences):
            counts = Counter(t for t in tokenize(s) if t in self.vocab)
            for w, c in counts.items():
                rows.append(r)
                cols.append(self.vocab[w])
                vals.append(c * self.idf[self.vocab[w]])
        m = sparse.csr_matrix((vals, (rows, cols)), shape=(len(sentences), len(self.vocab)))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ m

    def cosine(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """`[len(a), len(b)]` cosine similarities."""
        return np.asarray((self.vectors(a) @ self.vectors(b).T).todense())


def nn_captions(train: AlignmentSplit, test: AlignmentSplit) -> dict[str, str]:
    """Test photo id -> the first sentence of its nearest training image (Table 2 baseline)."""
    nearest = nearest_images(test.global_features, train.global_features)
    first = {}
    for m, k in enumerate(train.sentence_image):
        first.setdefault(int(k), train.sentences[m])
    return {test.photo_ids[i]: first[int(j)] for i, j in enumerate(nearest)}


def nn_retrieval_scores(
    train: AlignmentSplit, test: AlignmentSplit
) -> tuple[np.ndarray, np.ndarray]:
    """(image -> sentence scores `[N, M]`, sentence -> image scores `[M, N]`) on `test`."""
    tfidf = Tfidf(train.sentences)
    # image -> sentence: nearest training image, then text similarity to its sentences.
    nearest = nearest_images(test.global_features, train.global_features)
    sim = tfidf.cosine(test.sentences, train.sentences)  # [M_test, M_train]
    i2s = np.full((test.num_images, test.num_sentences), -np.inf)
    for i, j in enumerate(nearest):
        own = np.flatnonzero(train.sentence_image == j)
        i2s[i] = sim[:, own].max(axis=1)
    # sentence -> image: most similar training sentence, then visual distance to its image.
    best_train = sim.argmax(axis=1)
    anchors = train.global_features[train.sentence_image[best_train]]
    s2i = -l2_distances(anchors, test.global_features)
    return i2s, s2i
