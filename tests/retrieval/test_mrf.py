"""The chain MRF of 002 section 3.1.4: exact DP against brute force, and its two limits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from retrieval import mrf


def brute_force(unary: np.ndarray, beta: float) -> tuple[np.ndarray, float]:
    """Enumerate every assignment of N words to M regions."""
    n, m = unary.shape
    best, best_score = None, -np.inf
    for a in itertools.product(range(m), repeat=n):
        score = mrf.chain_score(unary, np.asarray(a), beta)
        if score > best_score:
            best, best_score = np.asarray(a), score
    return best, best_score


@pytest.mark.parametrize("seed", range(40))
def test_viterbi_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    unary = rng.normal(size=(n, m))
    beta = float(rng.choice([0.0, 0.3, 1.0, 2.5, -0.5]))
    a, score = mrf.viterbi(unary, beta)
    expected, expected_score = brute_force(unary, beta)
    assert score == pytest.approx(expected_score, abs=1e-9)
    assert mrf.chain_score(unary, a, beta) == pytest.approx(score, abs=1e-9)
    # Continuous random unaries: the optimum is unique, so the assignment must match too.
    np.testing.assert_array_equal(a, expected)


def test_beta_zero_is_per_word_argmax():
    rng = np.random.default_rng(1)
    unary = rng.normal(size=(12, 7))
    a, _ = mrf.viterbi(unary, 0.0)
    np.testing.assert_array_equal(a, unary.argmax(axis=1))


def test_large_beta_assigns_the_sentence_to_one_region():
    rng = np.random.default_rng(2)
    unary = rng.normal(size=(9, 6))
    # Per-word argmax scatters the words over several regions ...
    assert len(set(unary.argmax(axis=1))) > 1
    a, _ = mrf.viterbi(unary, 1e3)
    # ... while a large beta keeps them on the single region with the best total.
    assert set(a) == {int(unary.sum(axis=0).argmax())}


def test_moderate_beta_merges_a_weakly_scattered_word():
    # Word 1 prefers region 1 by 0.2 only; beta = 0.5 per link makes region 0 win for it.
    unary = np.asarray([[2.0, 0.0], [0.0, 0.2], [2.0, 0.0]])
    assert mrf.viterbi(unary, 0.0)[0].tolist() == [0, 1, 0]
    assert mrf.viterbi(unary, 0.5)[0].tolist() == [0, 0, 0]


def test_segments_are_maximal_runs():
    segs = mrf.segments(np.asarray([3, 3, 1, 1, 1, 3, 0]))
    assert [(s.region, s.start, s.end) for s in segs] == [
        (3, 0, 2),
        (1, 2, 5),
        (3, 5, 6),
        (0, 6, 7),
    ]
    assert mrf.segments(np.asarray([], np.int64)) == []


def test_single_region_and_empty_sentence():
    a, score = mrf.viterbi(np.asarray([[1.0], [2.0], [-1.0]]), 0.5)
    assert a.tolist() == [0, 0, 0] and score == pytest.approx(3.0)
    a, score = mrf.viterbi(np.zeros((0, 4)), 1.0)
    assert a.shape == (0,) and score == 0.0
