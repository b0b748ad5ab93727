"""BLEU / ROUGE-L / CIDEr-D equal pycocoevalcap's on the same tokens; hand-checked small cases."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from scoring_corpus import pair_corpus

from components.caption_evaluator.scoring import bleu, cider, ngrams, rouge


def _ours(preds: dict, refs: dict):
    ids = list(preds)
    table = ngrams.build(
        [preds[i].split() for i in ids], [[r.split() for r in refs[i]] for i in ids]
    )
    b, b_items = bleu.bleu(table)
    c, c_items = cider.cider_d(table)
    r, r_items = rouge.rouge_l([preds[i] for i in ids], [refs[i] for i in ids])
    return (b, b_items), (c, c_items), (r, r_items)


@pytest.fixture(scope="module")
def corpus():
    return pair_corpus(seed=11, n=1200)


@pytest.fixture(scope="module")
def coco(corpus):
    """pycocoevalcap's scorers on the same tokenised strings (the oracle)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    preds, refs = corpus
    gts = {i: list(refs[i]) for i in preds}
    res = {i: [preds[i]] for i in preds}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap's Bleu prints its counts
        b = Bleu(4).compute_score(gts, res)
    return b, Cider().compute_score(gts, res), Rouge().compute_score(gts, res)


def test_corpus_has_the_edge_cases(corpus):
    preds, refs = corpus
    values = list(preds.values())
    assert sum(v == "" for v in values) >= 20  # empty candidates
    assert sum(len(v.split()) == 1 for v in values) >= 20  # single words
    assert (
        sum(len(v.split()) > 1 and len(set(v.split())) == 1 for v in values) >= 20
    )  # repeated word
    assert sum(len(v.split()) >= 30 for v in values) >= 20  # long sentences
    no_overlap = [
        i
        for i, v in preds.items()
        if v and not set(v.split()) & {w for r in refs[i] for w in r.split()}
    ]
    assert len(no_overlap) >= 50


def test_equal_to_pycocoevalcap(corpus, coco):
    preds, refs = corpus
    (b, b_items), (c, c_items), (r, r_items) = _ours(preds, refs)
    (cb, cb_items), (cc, cc_items), (cr, cr_items) = coco
    np.testing.assert_allclose(b, cb, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b_items, np.array(cb_items).T, rtol=0, atol=1e-6)
    assert abs(c - cc) < 1e-6
    np.testing.assert_allclose(c_items, cc_items, rtol=0, atol=1e-6)
    assert abs(r - cr) < 1e-6
    np.testing.assert_allclose(r_items, cr_items, rtol=0, atol=1e-6)
    # Not trivially equal: the metrics take a spread of values on this corpus.
    assert 0.2 < b[0] < 0.9 and b[3] > 1e-4 and 0.05 < c < 5 and 0.1 < r < 0.9
    assert np.std(c_items) > 0.1 and np.std(r_items) > 0.05


def test_perfect_match_scores_one():
    preds = {1: "a man riding a horse on the beach", 2: "two dogs play in the snow"}
    refs = {
        1: ["a man riding a horse on the beach"],
        2: ["two dogs play in the snow", "dogs in snow"],
    }
    (b, b_items), _, (r, r_items) = _ours(preds, refs)
    np.testing.assert_allclose(b, [1.0] * 4, atol=1e-8)
    np.testing.assert_allclose(b_items, 1.0, atol=1e-8)
    assert r == pytest.approx(1.0)


def test_brevity_penalty_on_a_short_candidate():
    # 3 tokens against a closest reference of 6: every precision is 1, BP = exp(1 - 6/3).
    preds = {1: "a black dog"}
    refs = {1: ["a black dog runs on grass", "a black dog runs on the green grass"]}
    (b, b_items), _, _ = _ours(preds, refs)
    assert b[0] == pytest.approx(math.exp(1 - 6 / 3), rel=1e-6)
    assert b_items[0, 0] == pytest.approx(math.exp(-1), rel=1e-6)
    # No 4-gram in a 3-word candidate: coco's constants make p4 = 1e-15 / 1e-9, not 0.
    assert b[3] == pytest.approx(math.exp(-1) * (1e-15 / 1e-9) ** 0.25, rel=1e-6)


def test_closest_reference_length_prefers_the_shorter_on_ties():
    # Candidate of 4; references of 3 and 5 are equally close: coco picks 3, so no brevity penalty.
    preds = {1: "a b c d"}
    refs = {1: ["a b c", "a b c d e"]}
    (b, _), _, _ = _ours(preds, refs)
    assert b[0] == pytest.approx(1.0, abs=1e-8)


def test_rouge_l_hand_computed():
    # LCS("a b c d e", "a c e x") = 3: P = 3/4, R = 3/5, beta = 1.2.
    p, rr, beta = 3 / 4, 3 / 5, 1.2
    expected = (1 + beta**2) * p * rr / (rr + beta**2 * p)
    assert rouge.rouge_l_item("a c e x".split(" "), ["a b c d e".split(" ")]) == pytest.approx(
        expected
    )
    assert rouge.lcs_length(list("abcbdab"), list("bdcaba")) == 4
    assert rouge.lcs_length([], ["a"]) == 0


def test_cider_of_a_single_item_is_zero():
    # coco-caption's idf comes from the evaluated set: log(1) makes every weight 0.
    _, (c, items), _ = _ours({1: "a dog"}, {1: ["a dog", "the dog"]})
    assert c == 0.0 and items[0] == 0.0


def test_cider_rewards_consensus():
    preds = {1: "a dog runs on the grass", 2: "a cat sleeps", 3: "a red car"}
    refs = {
        1: ["a dog runs on the grass", "a dog running on grass"],
        2: ["a cat is sleeping on a bed", "the cat sleeps"],
        3: ["a blue truck parked", "a truck on the road"],
    }
    _, (c, items), _ = _ours(preds, refs)
    assert items[0] > items[1] > items[2] >= 0
