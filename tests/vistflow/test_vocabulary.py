"""Vocabulary rules: 002's preprocessing, min count, caps, TF/Python parity."""

from __future__ import annotations

import collections

from vistflow.vocabulary import END_ID, PAD_ID, SPECIALS, START_ID, UNK_ID, Vocabulary, tokenize


def test_tokenize_lowercases_and_keeps_alphanumeric_runs():
    assert tokenize("The DOG's 2nd ball -- (red)!") == ["the", "dog", "s", "2nd", "ball", "red"]
    assert tokenize("  ") == []
    assert tokenize("café au-lait") == ["caf", "au", "lait"]  # non-ASCII letters are dropped
    assert tokenize(b"Hello,world") == ["hello", "world"]


def test_bracketed_placeholders_stay_single_tokens():
    """VIST anonymises names as [female]/[male]; they must not collapse into "female"/"male"."""
    assert tokenize("[female] and [male] went to location .") == [
        "[female]", "and", "[male]", "went", "to", "location",
    ]  # fmt: skip
    assert tokenize("[Female]'s friend met the female lead") == [
        "[female]", "s", "friend", "met", "the", "female", "lead",
    ]  # fmt: skip
    assert tokenize("x[male]y") == ["x", "[male]", "y"]
    # Brackets around anything but one lower-case word are punctuation, as before.
    assert tokenize("[ ] [two words] [x1] [[male]]") == ["two", "words", "x1", "[male]"]
    # The internal markers cannot be smuggled in by the input.
    assert tokenize("a\x01b\x02c") == ["a", "b", "c"]
    counts = collections.Counter(tokenize("[female] [female] [female] female female"))
    vocab = Vocabulary.from_counts(counts, min_count=1, max_size=10)
    assert vocab.encode("[female] female") == [vocab.words.index("[female]"), 5]
    assert vocab.decode(vocab.encode("[male] [female]")) == "<unk> [female]"


def test_tf_tokenizer_matches_python():
    import tensorflow as tf

    from vistflow.vocabulary import tokenize_tf

    cases = [
        "The DOG's 2nd ball -- (red)!",
        "café au-lait ÉCOLE",
        "tabs\tand\nnewlines",
        "",
        "...",
        "MiXeD123case456",
        "[female] met [Male]'s friend at location .",
        "x[male]y [ ] [two words] [[female]] a\x01b\x02c",
    ]
    got = tokenize_tf(tf.constant(cases)).to_list()
    assert [[t.decode() for t in row] for row in got] == [tokenize(c) for c in cases]


def test_min_count_order_and_cap():
    counts = collections.Counter({"a": 9, "b": 5, "c": 5, "d": 4, "e": 12})
    vocab = Vocabulary.from_counts(counts, min_count=5, max_size=100)
    assert vocab.words == (*SPECIALS, "e", "a", "b", "c")  # by count, ties alphabetical
    assert (PAD_ID, START_ID, END_ID, UNK_ID) == (0, 1, 2, 3)
    capped = Vocabulary.from_counts(counts, min_count=1, max_size=6)
    assert capped.words == (*SPECIALS, "e", "a")  # the cap counts the 4 special tokens
    assert vocab.encode("E a D zebra") == [4, 5, UNK_ID, UNK_ID]
    assert vocab.decode([4, 5, END_ID, 6]) == "e a"
    assert Vocabulary.from_json(vocab.to_json()) == vocab
