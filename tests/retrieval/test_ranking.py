"""Retrieval metrics (R@K, median rank, both directions) on hand-built score matrices."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from retrieval import ranking
from retrieval.ranking import IMAGE_TO_SENTENCE, SENTENCE_TO_IMAGE


def test_known_ranks_give_known_recall_and_median():
    # 12 candidates; query q's only relevant item is candidate q and is placed at rank r_q.
    wanted = [1, 2, 5, 6, 10, 11, 3, 12]
    n = 12
    scores = np.zeros((len(wanted), n))
    relevant = np.zeros_like(scores, bool)
    for q, r in enumerate(wanted):
        others = [c for c in range(n) if c != q]
        order = others[: r - 1] + [q] + others[r - 1 :]  # candidate order, best first
        scores[q, order] = np.arange(n, 0, -1)
        relevant[q, q] = True
    np.testing.assert_array_equal(ranking.first_relevant_ranks(scores, relevant), wanted)
    m = ranking.direction_metrics(scores, relevant)
    assert m.r1 == pytest.approx(100 * 1 / 8)
    assert m.r5 == pytest.approx(100 * 4 / 8)  # ranks 1, 2, 5, 3
    assert m.r10 == pytest.approx(100 * 6 / 8)  # + 6, 10
    assert m.median_rank == pytest.approx(5.5)  # sorted 1 2 3 5 | 6 10 11 12
    assert m.mean_rank == pytest.approx(np.mean(wanted))


def test_first_ground_truth_counts_for_images_with_several_sentences():
    # 3 images, 6 sentences; sentence l describes image sentence_image[l].
    sentence_image = np.asarray([0, 0, 1, 1, 2, 2])
    s = np.asarray(
        [
            # image 0: its sentences 0, 1 are ranked 3rd and 5th -> rank 3
            [0.5, 0.1, 0.9, 0.8, 0.2, 0.3],
            # image 1: its sentence 3 is 1st -> rank 1
            [0.2, 0.05, 0.3, 0.9, 0.8, -0.1],
            # image 2: its sentences 4, 5 are 5th and 6th -> rank 5
            [0.9, 0.8, 0.7, 0.6, 0.1, 0.0],
        ]
    )
    metrics = ranking.evaluate(s, sentence_image)
    i2s = metrics[IMAGE_TO_SENTENCE]
    assert (i2s.queries, i2s.candidates) == (3, 6)
    assert i2s.r1 == pytest.approx(100 / 3) and i2s.r5 == pytest.approx(100.0)
    assert i2s.median_rank == 3.0
    # Sentence -> image ranks the columns: column 0 is [0.5, 0.2, 0.9] -> image 0 is 2nd.
    s2i_ranks = ranking.first_relevant_ranks(s.T, ranking.relevance(sentence_image, 3).T)
    np.testing.assert_array_equal(s2i_ranks, [2, 2, 3, 1, 3, 2])
    assert metrics[SENTENCE_TO_IMAGE].r1 == pytest.approx(100 / 6)
    assert metrics[SENTENCE_TO_IMAGE].median_rank == 2.0


def test_ties_count_at_their_expectation():
    # One query: 4 irrelevant above, the relevant one tied with 2 irrelevant, 3 below.
    scores = np.asarray([[9, 8, 7, 6, 5, 5, 5, 1, 1, 1.0]])
    relevant = np.zeros_like(scores, bool)
    relevant[0, 4] = True
    assert ranking.first_relevant_ranks(scores, relevant)[0] == pytest.approx(6.0)
    m = ranking.direction_metrics(scores, relevant)
    assert m.r1 == 0.0
    assert m.r5 == pytest.approx(100 / 3)  # it must come first of its 3-way tie
    assert m.r10 == 100.0


def test_a_separate_sentence_to_image_matrix_is_used_when_given():
    sentence_image = np.asarray([0, 1])
    i2s = np.asarray([[1.0, 0.0], [0.0, 1.0]])  # perfect
    s2i = np.asarray([[0.0, 1.0], [1.0, 0.0]])  # always wrong
    metrics = ranking.evaluate(i2s, sentence_image, s2i)
    assert metrics[IMAGE_TO_SENTENCE].r1 == 100.0
    assert metrics[SENTENCE_TO_IMAGE].r1 == 0.0
    assert metrics[SENTENCE_TO_IMAGE].median_rank == 2.0


def test_constant_scores_give_exactly_the_chance_levels():
    rng = np.random.default_rng(0)
    n = 30
    sentence_image = np.concatenate([np.arange(n), rng.integers(0, n, 40)])
    scores = np.zeros((n, len(sentence_image)))
    got = ranking.evaluate(scores, sentence_image)
    chance = ranking.chance_levels(sentence_image, n)
    for d in (IMAGE_TO_SENTENCE, SENTENCE_TO_IMAGE):
        for k in ("r1", "r5", "r10", "mean_rank"):
            assert getattr(got[d], k) == pytest.approx(getattr(chance[d], k)), (d, k)


def test_chance_matches_enumeration_of_all_rankings():
    # 6 candidates, queries with 1 and 2 relevant items: average over all 720 orderings.
    candidates, counts = 6, [1, 2]
    ranks = {g: [] for g in counts}
    for perm in itertools.permutations(range(candidates)):
        for g in counts:  # relevant items are 0..g-1; rank = best position among them
            ranks[g].append(min(perm.index(i) for i in range(g)) + 1)
    got = ranking.chance(counts, candidates)
    for k, value in ((1, got.r1), (5, got.r5), (10, got.r10)):
        expected = np.mean([np.mean(np.asarray(ranks[g]) <= k) for g in counts])
        assert value == pytest.approx(100 * expected), k
    assert got.mean_rank == pytest.approx(np.mean([np.mean(ranks[g]) for g in counts]))
    pooled = np.concatenate([ranks[g] for g in counts])
    cdf = [np.mean(pooled <= r) for r in range(1, candidates + 1)]
    assert got.median_rank == next(r for r, c in enumerate(cdf, 1) if c >= 0.5)


def test_chance_levels_of_a_split():
    # 100 images with 5 sentences each: image search R@K = K / 100, median rank 50.
    sentence_image = np.repeat(np.arange(100), 5)
    chance = ranking.chance_levels(sentence_image, 100)
    s2i = chance[SENTENCE_TO_IMAGE]
    assert (s2i.r1, s2i.r5, s2i.r10, s2i.median_rank) == pytest.approx((1.0, 5.0, 10.0, 50.0))
    i2s = chance[IMAGE_TO_SENTENCE]
    # P(one of 5 relevant among 500 in the top 1) = 5 / 500.
    assert i2s.r1 == pytest.approx(1.0)
    assert i2s.r10 == pytest.approx(100 * (1 - math.comb(495, 10) / math.comb(500, 10)))
    assert i2s.mean_rank == pytest.approx(501 / 6)


def test_recall_sum_and_errors():
    metrics = ranking.evaluate(np.eye(3), np.arange(3))
    assert ranking.recall_sum(metrics) == pytest.approx(600.0)
    with pytest.raises(ValueError, match="no relevant"):
        ranking.first_relevant_ranks(np.zeros((2, 2)), np.asarray([[1, 0], [0, 0]], bool))
