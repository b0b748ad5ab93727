"""The pure-Python PTB step against coco-caption's Java tokenizer, plus hand-checked cases."""

from __future__ import annotations

import random

import pytest
from scoring_corpus import varied_sentence

from components.caption_evaluator.scoring.tokenizer import (
    PUNCTUATIONS,
    PTBTokenizer,
    WhitespaceTokenizer,
    ptb_tokenize,
)


def _java_ptb(captions: list[str]) -> list[str]:
    """coco-caption's PTBTokenizer (Stanford CoreNLP 3.4.1 via Java) on each caption."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer as JavaPTB

    # A plain word after every caption gives Java the right context our tokenizer models ("a newline
    # follows"): otherwise a caption's last "etc." may depend on whether the next caption starts with
    # a capital or a digit, which per-caption tokenisation cannot know.
    lines: dict[int, list[dict]] = {}
    for i, cap in enumerate(captions):
        lines[2 * i] = [{"caption": cap}]
        lines[2 * i + 1] = [{"caption": "x"}]
    out = JavaPTB().tokenize(lines)
    return [out[2 * i][0] for i in range(len(captions))]


HAND_CASES = [
    # ' / " quotes, n't, 's, hyphens, numbers, ellipses, brackets, abbreviations, assimilations.
    ("A man's dog isn't here.", "a man 's dog is n't here"),
    ("They can't and won't -- really!", "they ca n't and wo n't really"),
    ('He said "hi" to the well-known chef...', "he said hi to the well-known chef"),
    ("a (red) bike [female] {x}", "a -lrb- red -rrb- bike -lsb- female -rsb- -lcb- x -rcb-"),
    ("I'm gonna see Mr. Smith at 5:30 p.m.", "i 'm gon na see mr. smith at 5:30 p.m."),
    ("it costs $5.50, 3 1/2 cups", "it costs $ 5.50 3\u00a01/2 cups"),
    ("cannot", "can not"),
    ("the dogs' toys", "the dogs toys"),
    ("wow!! ok?!", "wow !! ok ?!"),
    ("“curly” ‘quotes’ … and—dashes", "curly quotes and dashes"),
    ("emoji 😀 gone", "emoji gone"),
    ("", ""),
]


@pytest.mark.parametrize(("caption", "expected"), HAND_CASES)
def test_hand_checked_cases(caption, expected):
    assert ptb_tokenize(caption) == expected


def test_punctuation_list_is_coco_captions():
    assert PUNCTUATIONS == frozenset(
        [
            "''",
            "'",
            "``",
            "`",
            "-LRB-",
            "-RRB-",
            "-LCB-",
            "-RCB-",
            ".",
            "?",
            "!",
            ",",
            ":",
            "-",
            "--",
            "...",
            ";",
        ]
    )


def test_line_breaks_inside_a_caption_are_spaces():
    # coco-caption would hand "\r" to Java and shift every later caption by one line.
    tok = PTBTokenizer()
    assert tok("a dog\r\nruns\u2028fast") == "a dog runs fast"


def test_whitespace_tokenizer():
    assert WhitespaceTokenizer()("  we went \t to  the park . ") == "we went to the park ."
    assert WhitespaceTokenizer(lowercase=True).tokens("We WENT") == ["we", "went"]


def test_matches_coco_caption_java_tokenizer():
    rng = random.Random(7)
    captions = [varied_sentence(rng) for _ in range(400)]
    # Noisy variants: random punctuation glued to words, unicode quotes and symbols.
    noise = list(".,;:!?'\"`()[]{}<>-_/\\|@#$%^&*+=~…–—“”‘’«»°×½é") + ["n't", "'s", "...", "&amp;"]
    for _ in range(150):
        words = varied_sentence(rng).split(" ")
        i = rng.randrange(len(words))
        words[i] = words[i] + rng.choice(noise) + rng.choice(["", "a", "1"])
        captions.append(" ".join(words))
    java = _java_ptb(captions)
    tok = PTBTokenizer()
    mismatches = [(c, j, tok(c)) for c, j in zip(captions, java, strict=True) if tok(c) != j]
    assert not mismatches, mismatches[:5]
    # The corpus really exercises the rules (not just plain words).
    joined = " ".join(java)
    for token in ("n't", "'s", "-lrb-", "gon", "mr.", "p.m.", "5:30", "1/2", "can not"):
        assert token in joined
