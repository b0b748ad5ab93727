"""METEOR: the Java path equals pycocoevalcap's; VIST best-reference; robustness; nltk + offline WordNet."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from scoring_corpus import pair_corpus

from components.caption_evaluator.scoring import score
from components.caption_evaluator.scoring.meteor import (
    COCO_OPTIONS,
    HTER_OPTIONS,
    MeteorError,
    MeteorJava,
    _LineReader,
    find_meteor_jar,
    meteor_nltk,
)
from vistflow import wordnet as wn_mod
from vistflow.errors import VistflowError


class _Detached:
    """Stands in for pycocoevalcap's process handle after use, so its __del__ leaves our JVM alone."""

    class _Pipe:
        def close(self):
            pass

    stdin = _Pipe()

    def kill(self):
        pass

    def wait(self):
        pass


def _pycocoevalcap_meteor(jvm: MeteorJava, gts: dict, res: dict):
    """pycocoevalcap's Meteor.compute_score, driving an already running JVM with the same options."""
    from pycocoevalcap.meteor.meteor import Meteor

    theirs = object.__new__(Meteor)  # no second JVM: 10 CPU-seconds of paraphrase loading saved
    theirs.meteor_p = jvm._proc
    theirs.lock = threading.Lock()
    try:
        return theirs.compute_score(gts, res)
    finally:
        theirs.meteor_p = _Detached()


def test_java_meteor_equals_pycocoevalcap(meteor_jvms):
    jvm = meteor_jvms["coco"]
    assert jvm.options == ("-l", "en", "-norm")  # pycocoevalcap/meteor/meteor.py's command line
    preds, refs = pair_corpus(seed=5, n=1000)
    theirs, theirs_items = _pycocoevalcap_meteor(
        jvm, {i: refs[i] for i in preds}, {i: [preds[i]] for i in preds}
    )
    ours, ours_items = jvm.score([preds[i] for i in preds], [refs[i] for i in preds])
    assert ours == pytest.approx(theirs, abs=1e-9)
    np.testing.assert_allclose(ours_items, theirs_items, rtol=0, atol=1e-9)
    assert 0.05 < ours < 0.9 and np.std(ours_items) > 0.05
    assert sum(p == "" for p in preds.values()) > 10  # empty hypotheses went through too


def test_vist_challenge_takes_the_best_single_reference(meteor_jvms):
    jvm = meteor_jvms["hter"]
    preds, refs = pair_corpus(seed=9, n=150)
    hyps = [preds[i] for i in preds]
    ref_lists = [refs[i] for i in preds]
    mean, per_item = jvm.best_single_reference(hyps, ref_lists)

    # Oracle: pycocoevalcap's protocol with one reference per (story, reference) pair, then max/mean.
    pairs = [(i, h, r) for i, (h, rs) in enumerate(zip(hyps, ref_lists, strict=True)) for r in rs]
    _, pair_scores = _pycocoevalcap_meteor(
        jvm,
        {k: [r] for k, (_, _, r) in enumerate(pairs)},
        {k: [h] for k, (_, h, _) in enumerate(pairs)},
    )
    best = np.full(len(hyps), -np.inf)
    for (i, _, _), s in zip(pairs, pair_scores, strict=True):
        best[i] = max(best[i], s)
    np.testing.assert_allclose(per_item, best, atol=1e-9)
    assert mean == pytest.approx(float(np.mean(best)))
    # A segment score does not depend on the batch: the challenge scores each pair on its own.
    for k in range(5):
        i, h, r = pairs[k]
        single, segments = jvm.evaluate(jvm.stats([h], [[r]]))
        assert single == pytest.approx(segments[0]) == pytest.approx(pair_scores[k])
    # Best-of-single references differs from the multi-reference corpus score (hter profile, AREL).
    assert abs(mean - jvm.score(hyps, ref_lists)[0]) > 1e-3


def test_line_breaks_and_separators_do_not_desynchronise(meteor_jvms):
    jvm = meteor_jvms["coco"]
    before = jvm.score(["a dog runs on the grass"], [["a dog is running on grass"]])
    odd = jvm.score(["a dog\nruns ||| on\r the grass"], [["a dog is\nrunning ||| on grass", "x"]])
    assert 0 < odd[0] <= 1
    assert jvm.score(["a dog runs on the grass"], [["a dog is running on grass"]]) == before


def test_a_dead_jvm_is_an_error_not_a_hang(tmp_path):
    bogus = tmp_path / "meteor-1.5.jar"
    bogus.write_bytes(b"not a jar")
    with MeteorJava(COCO_OPTIONS, jar=bogus, startup_timeout=120) as m:
        with pytest.raises(MeteorError, match="exited|not running"):
            m.score(["a dog"], [["a dog"]])
    assert m._proc.poll() is not None  # reaped


def test_reads_have_a_deadline():
    r, w = os.pipe()
    try:
        reader = _LineReader(r)
        os.write(w, b"1.0\npartial")
        assert reader.readline(1) == b"1.0"
        with pytest.raises(TimeoutError):
            reader.readline(0.2)
    finally:
        os.close(r)
        os.close(w)


def test_missing_jar_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("VISTFLOW_METEOR_JAR", str(tmp_path / "nope.jar"))
    with pytest.raises(VistflowError, match="no such file"):
        find_meteor_jar()


def test_profile_and_scorer_options_must_agree(meteor_jvms):
    with pytest.raises(ValueError, match="-t hter"):
        score({1: "a dog"}, {1: ["a dog"]}, profile="vist-album", meteor_scorer=meteor_jvms["coco"])
    assert meteor_jvms["hter"].options == HTER_OPTIONS


# nltk's METEOR with WordNet read offline ------------------------------------------------------


def test_offline_wordnet_is_wordnet_3_0():
    wn = wn_mod.load_wordnet()
    assert wn.get_version() == "3.0"
    assert len(wn.synsets("bank")) == 18  # 10 noun + 8 verb senses in WordNet 3.0
    assert {lemma.name() for lemma in wn.synset("car.n.01").lemmas()} >= {
        "car",
        "auto",
        "automobile",
    }
    assert wn.synset("dog.n.01").lexname() == "noun.animal"  # served from our lexnames table


def test_nltk_meteor_uses_wordnet_synonyms():
    class NoSynonyms:
        def synsets(self, word):
            return []

    # kid/child and bike/bicycle are WordNet synonyms (nltk matches synonyms of the *stemmed* words,
    # so e.g. automobile -> "automobil" finds none: a quirk of nltk, kept).
    hyp = [["a", "child", "rides", "a", "bike"]]
    refs = [[["a", "kid", "rides", "a", "bicycle"]]]
    with_wn, _ = meteor_nltk(hyp, refs, wn_mod.load_wordnet())
    without, _ = meteor_nltk(hyp, refs, NoSynonyms())
    assert with_wn > without + 0.2


def test_score_with_nltk_meteor_signs_its_wordnet():
    result = score(
        {1: "A child rides a bike."},
        {1: ["a kid rides a bicycle", "a car on a road"]},
        meteor="nltk",
    )
    no_synonym = score(
        {1: "A child rides a bike."},
        {1: ["a toddler rides a cart", "a car on a road"]},
        meteor="nltk",
    )
    assert result.metrics["METEOR"] > no_synonym.metrics["METEOR"] + 0.2
    assert "|meteor:nltk-3.9.1-wn3.0|" in result.signature
    assert result.per_item[1]["METEOR"] == pytest.approx(result.metrics["METEOR"])


def test_missing_wordnet_names_the_package(monkeypatch, tmp_path):
    import nltk.data

    monkeypatch.delenv("VISTFLOW_WORDNET_DIR", raising=False)
    monkeypatch.delenv("WNSEARCHDIR", raising=False)
    monkeypatch.setattr(wn_mod, "SYSTEM_DIRS", (str(tmp_path),))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    load_uncached = (
        wn_mod.load_wordnet.__wrapped__
    )  # leave the loaded WordNet cached for other tests
    with pytest.raises(VistflowError, match="wordnet-base"):
        load_uncached()
    monkeypatch.setenv("VISTFLOW_WORDNET_DIR", str(tmp_path))
    with pytest.raises(VistflowError, match="not a WordNet 3.0 dict directory"):
        load_uncached()


def test_meteor_none_always_works(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no java anywhere
    result = score({1: "a dog"}, {1: ["a dog runs"]}, meteor="none")
    assert "METEOR" not in result.metrics and result.signature.endswith("|meteor:none|agg:corpus")
