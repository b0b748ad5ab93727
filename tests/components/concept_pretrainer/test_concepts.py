"""The concept vocabulary: content words of the captions, folded to one form, most frequent first."""

from __future__ import annotations

import pytest

from components.concept_pretrainer.concepts import build_vocabulary, words_of
from vistflow.errors import VistflowError


def test_words_are_content_words_in_their_base_form():
    words = words_of(["We saw two dogs and the children at the beach !", "[female] loved it ."])
    assert {"dog", "child", "beach"} <= words
    assert not words & {"we", "saw", "two", "the", "and", "female", "at"}


def test_vocabulary_ranks_by_photos_mentioning_a_word_and_drops_rare_ones():
    photos = [["a red ball"], ["red balls !", "a red ball again"], ["a blue tent"], ["a red kite"]]
    vocab = build_vocabulary(photos, max_concepts=10, min_count=2)
    assert vocab.words == ["red", "ball"]  # red: 3 photos, ball: 2 (counted once per photo)
    assert vocab.counts == [3, 2]
    assert vocab.labels(["the red tent"]) == [0]
    assert build_vocabulary(photos, max_concepts=1, min_count=1).words == ["red"]


def test_no_concepts_is_an_error_naming_the_knob():
    with pytest.raises(VistflowError, match="min_count"):
        build_vocabulary([["the"], ["a"]], max_concepts=5, min_count=1)
