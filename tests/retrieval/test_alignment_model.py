"""Encoders, the image-sentence score (eq. 8) and the ranking loss (eq. 9) against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def model():
    from retrieval.config import AlignmentConfig
    from retrieval.model import AlignmentModel

    cfg = AlignmentConfig(embed_dim=12, word_dim=8, hidden_dim=10, dropout=0.5)
    m = AlignmentModel(cfg, vocab_size=30, region_dim=6, global_dim=9)
    m.build_all(num_windows=4)
    return m


def test_word_vectors_do_not_depend_on_padding_or_batch(model):
    sentence = np.asarray([[5, 9, 4, 7, 11]], np.int32)
    alone, mask = model.embed_words(sentence)
    batch = np.zeros((2, 9), np.int32)
    batch[0, :5] = sentence[0]
    batch[1] = np.arange(4, 13)
    padded, padded_mask = model.embed_words(batch)
    np.testing.assert_allclose(padded[0, :5], alone[0], atol=1e-5)
    np.testing.assert_array_equal(padded_mask[0], [1] * 5 + [0] * 4)
    assert mask.numpy().tolist() == [[1.0] * 5]


def test_every_word_sees_both_directions(model):
    base = np.asarray([[5, 9, 4, 7, 11]], np.int32)
    last_changed = base.copy()
    last_changed[0, -1] = 20
    first_changed = base.copy()
    first_changed[0, 0] = 20
    s, _ = model.embed_words(base)
    s_last, _ = model.embed_words(last_changed)
    s_first, _ = model.embed_words(first_changed)
    # The backward stream carries the last word to the first position and vice versa.
    assert not np.allclose(s[0, 0], s_last[0, 0])
    assert not np.allclose(s[0, -1], s_first[0, -1])
    assert (s.numpy() >= 0).all()  # s_t = ReLU(...)


def test_regions_are_global_then_windows(model):
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(3, 4, 6)).astype(np.float32)
    glob = rng.normal(size=(3, 9)).astype(np.float32)
    v = model.embed_regions(windows, glob).numpy()
    assert v.shape == (3, 5, 12)
    # W_m is shared by the windows: each window's embedding is an affine map of its own features.
    w = model.region_proj
    expected = windows @ w.kernel.numpy() + w.bias.numpy()
    np.testing.assert_allclose(v[:, 1:], expected, atol=1e-5)
    # Training mode drops inputs (dropout 0.5): embeddings change.
    assert not np.allclose(model.embed_regions(windows, glob, training=True), v)


def test_pair_scores_are_eq8():
    from retrieval.model import pair_scores
    from retrieval.scoring import image_sentence_scores

    rng = np.random.default_rng(1)
    regions = rng.normal(size=(4, 3, 5)).astype(np.float32)
    words = rng.normal(size=(6, 7, 5)).astype(np.float32)
    lengths = [7, 3, 1, 5, 6, 2]
    mask = (np.arange(7)[None] < np.asarray(lengths)[:, None]).astype(np.float32)
    expected = np.zeros((4, 6))
    for k in range(4):
        for m in range(6):
            expected[k, m] = sum(
                max(regions[k, i] @ words[m, t] for i in range(3)) for t in range(lengths[m])
            )
    np.testing.assert_allclose(pair_scores(regions, words, mask).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(
        image_sentence_scores(regions, words, mask, image_chunk=3, sentence_chunk=4),
        expected,
        rtol=1e-5,
    )


def test_ranking_loss_is_eq9_without_same_image_pairs():
    from retrieval.loss import ranking_loss

    rng = np.random.default_rng(2)
    s = rng.normal(scale=2.0, size=(5, 5)).astype(np.float32)
    ids = np.asarray([0, 1, 1, 2, 3])  # pairs 1 and 2 share an image
    expected = 0.0
    for k in range(5):
        for j in range(5):
            if ids[k] == ids[j]:
                continue
            expected += max(0.0, s[k, j] - s[k, k] + 1.0)  # image k vs other sentences
            expected += max(0.0, s[j, k] - s[k, k] + 1.0)  # sentence k vs other images
    got = float(ranking_loss(s, ids, margin=1.0))
    assert got == pytest.approx(expected / 5, rel=1e-5)
    # A perfectly separated batch costs nothing; a constant one costs 2 * margin per negative.
    assert float(ranking_loss(np.eye(3, dtype=np.float32) * 5, np.arange(3))) == 0.0
    assert float(ranking_loss(np.zeros((3, 3), np.float32), np.arange(3))) == pytest.approx(4.0)
