"""Profiles, signatures and the library API (`score`, `score_stories`)."""

from __future__ import annotations

import contextlib
import io
import random

import numpy as np
import pytest
from scoring_corpus import varied_sentence

from components.caption_evaluator.scoring import PROFILES, rouge, score, score_stories
from vistflow.records import SisStory


def test_signatures():
    refs5 = [5, 5]
    assert PROFILES["coco"].signature(n_refs=refs5, meteor="1.5-en-norm") == (
        "profile:coco|tok:ptb|refs:5|bleu:coco|rouge:coco|cider:coco-d|meteor:1.5-en-norm|agg:corpus"
    )
    assert PROFILES["vist-challenge"].signature(n_refs=[1, 3], meteor="1.5-hter") == (
        "profile:vist-challenge|tok:space|refs:photo-sequence:1-3|bleu:coco|rouge:coco|cider:coco-d"
        "|meteor:1.5-hter|agg:corpus,meteor=mean-of-max-ref"
    )
    assert PROFILES["vist-album"].signature(n_refs=refs5, meteor="1.5-hter") == (
        "profile:vist-album|tok:space|refs:album:5|bleu:coco|rouge:coco|cider:coco-d|meteor:1.5-hter|agg:corpus"
    )
    assert PROFILES["coco"].meteor_options == ("-l", "en", "-norm")
    assert (
        PROFILES["vist-challenge"].meteor_options
        == PROFILES["vist-album"].meteor_options
        == ("-t", "hter")
    )


def test_coco_profile_end_to_end_equals_pycocoevalcap():
    """Raw captions through our whole coco profile vs Java PTB + pycocoevalcap's scorers."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    rng = random.Random(3)
    refs = {i: [varied_sentence(rng) for _ in range(rng.randint(3, 5))] for i in range(200)}
    preds = {i: rng.choice(refs[i]) if rng.random() < 0.3 else varied_sentence(rng) for i in refs}
    ours = score(preds, refs, profile="coco", meteor="none")

    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in refs[i]] for i in refs})
    res = tok.tokenize({i: [{"caption": preds[i]}] for i in preds})
    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(gts, res)
    expected = {f"Bleu_{k + 1}": bleu[k] for k in range(4)}
    expected["ROUGE_L"] = Rouge().compute_score(gts, res)[0]
    expected["CIDEr"] = Cider().compute_score(gts, res)[0]
    for key, value in expected.items():
        assert ours.metrics[key] == pytest.approx(value, abs=1e-6), key
    assert set(ours.metrics) == set(expected)
    assert ours.signature.startswith("profile:coco|tok:ptb|refs:3-5|")
    assert set(ours.per_item) == set(preds) and set(ours.per_item[0]) == set(expected)


def _album_refs():
    return {
        "alb1": {
            "s1": [
                "we went to the park .",
                "the kids played .",
                "it was sunny .",
                "we ate lunch .",
                "fun day .",
            ],
            "s2": [
                "the park was big .",
                "kids ran around .",
                "the sun came out .",
                "lunch was good .",
                "we left .",
            ],
        },
        "alb2": {
            "s3": [
                "the city at night .",
                "lights everywhere .",
                "we took a cab .",
                "dinner was late .",
                "bed .",
            ],
        },
    }


def test_vist_album_uses_every_story_of_the_album():
    refs = _album_refs()
    preds = {
        "s1": ["we went to the park .", "kids played .", "sunny .", "lunch .", "a fun day ."],
        "s3": "the city .",
    }
    result = score_stories(preds, refs, profile="vist-album", meteor="none")
    assert list(result.per_item) == ["s1", "s3"]
    album1 = [" ".join(s) for s in refs["alb1"].values()]
    expected = rouge.rouge_l_item(" ".join(preds["s1"]).split(" "), [r.split(" ") for r in album1])
    assert result.per_item["s1"]["ROUGE_L"] == pytest.approx(expected)
    assert result.signature.startswith("profile:vist-album|tok:space|refs:album:1-2|")


def test_vist_challenge_groups_by_photo_sequence(meteor_jvms):
    stories = [
        SisStory(
            "s1", "alb1", "test", ("p1", "p2", "p3", "p4", "p5"), ("we went to the park .",) * 5, ()
        ),
        SisStory(
            "s2", "alb1", "test", ("p1", "p2", "p3", "p4", "p5"), ("the park was big .",) * 5, ()
        ),
        SisStory(
            "s3",
            "alb1",
            "test",
            ("p9", "p2", "p3", "p4", "p5"),
            ("a different sequence .",) * 5,
            (),
        ),
    ]
    preds = {
        "s1": ["we went to the park ."] * 5,
        "s2": ["a duplicate of s1's sequence ."] * 5,
        "s3": "a different sequence .",
    }
    result = score_stories(
        preds, stories, profile="vist-challenge", meteor_scorer=meteor_jvms["hter"]
    )
    assert list(result.per_item) == ["s1", "s3"]  # s2 repeats s1's photo sequence
    # s1 equals one of its two references exactly: best single reference ~1; mean over the 2 items.
    assert result.per_item["s1"]["METEOR"] > 0.95
    assert result.metrics["METEOR"] == pytest.approx(
        np.mean([v["METEOR"] for v in result.per_item.values()])
    )
    assert result.signature.startswith("profile:vist-challenge|tok:space|refs:photo-sequence:1-2|")
    assert result.signature.endswith("|meteor:1.5-hter|agg:corpus,meteor=mean-of-max-ref")
    with pytest.raises(ValueError, match="photo sequence"):
        score_stories(preds, _album_refs(), profile="vist-challenge", meteor="none")


def test_vist_profiles_do_not_tokenise_or_lowercase():
    r = score({1: "We went ."}, {1: ["we went ."]}, profile="vist-album", meteor="none")
    assert r.metrics["Bleu_1"] < 0.7  # "We" != "we": stories are scored as written
    c = score({1: "We went ."}, {1: ["we went ."]}, profile="coco", meteor="none")
    assert c.metrics["Bleu_1"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "nope"}, "unknown scoring profile"),
        ({"meteor": "perl"}, "unknown METEOR backend"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        score({1: "a"}, {1: ["a"]}, **{"meteor": "none", **kwargs})


def test_bad_inputs():
    with pytest.raises(ValueError, match="has no references"):
        score({1: "a", 2: "b"}, {1: ["a"]}, meteor="none")
    with pytest.raises(ValueError, match="non-empty list"):
        score({1: "a"}, {1: []}, meteor="none")
    with pytest.raises(ValueError, match="non-empty list"):
        score({1: "a"}, {1: "a"}, meteor="none")
    with pytest.raises(ValueError, match="none of the reference albums"):
        score_stories({"zz": "a"}, _album_refs(), meteor="none")
    with pytest.raises(ValueError, match="use score"):
        score_stories({"s1": "a"}, _album_refs(), profile="coco", meteor="none")
