"""Story-level repetition control: blocked n-grams across a story's sentences, count penalty,
length-normalised beams; the in-graph decoder against the Python reference."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import tensorflow as tf

from trainer import decoding, story_decoding
from trainer.hparams import DecodingConfig
from vistflow.vocabulary import END_ID, PAD_ID, START_ID

V = 12  # ids 4..11 are words
P = 5


def bigram_step(favourite: dict[int, int], strength: float = 4.0, seed: int = 0):
    """A model whose next word depends on the last one only, and strongly prefers one successor:
    from START it always walks the same sentence, so every sentence of a story is that sentence."""
    rng = np.random.default_rng(seed)
    table = rng.normal(0.0, 0.5, size=(V, V)).astype(np.float32)
    for prev, nxt in favourite.items():
        table[prev, nxt] += strength
    table = tf.constant(table)

    def step(tokens, context, state):
        return tf.gather(table, tokens), state, None

    return step


# START -> a b c d e END: "a b c d e" five times without a control.
CHAIN = {START_ID: 4, 4: 5, 5: 6, 6: 7, 7: 8, 8: END_ID}


def rows_state(rows):
    return {"x": tf.zeros([rows, 1])}


def sentence_fn_for(rows):
    def sentence(j, prev):
        return {}, rows_state(rows)

    return sentence


def graph_story(config, step, rows=3):
    decode_fn = functools.partial(decoding.decode, config=config, vocab_size=V)
    fn = tf.function(
        lambda: story_decoding.decode_story(
            step,
            sentence_fn_for(rows),
            decode_fn,
            rows,
            P,
            steps=config.max_length,
            history=config.story_control,
        )
    )
    out = fn()
    return out["tokens"].numpy(), out["scores"].numpy()


def story_ngrams(story_tokens, n: int) -> list[tuple[int, ...]]:
    """Every n-gram of every sentence of one story (with repeats)."""
    grams = []
    for tokens in story_tokens:
        words = story_decoding.sentence_words(tokens)
        grams += [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return grams


METHODS = [
    DecodingConfig(method="greedy", max_length=8),
    DecodingConfig(method="beam", beam_size=3, max_length=8),
    DecodingConfig(method="sample", max_length=8, temperature=0.7, seed=3),
]


@pytest.mark.parametrize("base", METHODS, ids=lambda c: c.method)
def test_without_the_control_the_story_repeats_and_with_it_no_trigram_repeats(base):
    step = bigram_step(CHAIN)
    plain, _ = graph_story(dataclasses.replace(base, story_block_ngram=0), step)
    if base.method != "sample":
        for story in plain:
            assert all(list(s) == [4, 5, 6, 7, 8, END_ID, PAD_ID, PAD_ID] for s in story)
    # Even sampling repeats trigrams across the story without the control.
    assert any(len(set(g)) < len(g) for g in (story_ngrams(s, 3) for s in plain))
    blocked, scores = graph_story(dataclasses.replace(base, story_block_ngram=3), step)
    for story in blocked:
        grams = story_ngrams(story, 3)
        assert len(set(grams)) == len(grams), story
        # Nor is a sentence too short to hold a trigram said twice.
        assert len({tuple(s) for s in story}) == P, story
        # Sentences still end and start with a word.
        assert all(s[0] not in (END_ID, PAD_ID) for s in story)
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_blocking_covers_earlier_words_of_the_same_sentence(n):
    # a -> b -> a -> b ...: within one sentence the bigram loop repeats n-grams.
    step = bigram_step({START_ID: 4, 4: 5, 5: 4}, strength=6.0)
    config = DecodingConfig(method="greedy", max_length=10, story_block_ngram=n)
    tokens, _ = graph_story(config, step, rows=1)
    grams = story_ngrams(tokens[0], n)
    assert len(set(grams)) == len(grams)
    plain, _ = graph_story(dataclasses.replace(config, story_block_ngram=0), step, rows=1)
    assert len(set(story_ngrams(plain[0], n))) < len(story_ngrams(plain[0], n))


CONFIGS = [
    DecodingConfig(method="greedy", max_length=8, story_block_ngram=3),
    DecodingConfig(method="beam", beam_size=3, max_length=8, story_block_ngram=3),
    DecodingConfig(method="beam", beam_size=4, max_length=8, story_block_ngram=2),
    DecodingConfig(
        method="beam", beam_size=3, max_length=8, story_block_ngram=3, length_normalization=0.7
    ),
    DecodingConfig(
        method="beam", beam_size=3, max_length=8, story_block_ngram=0, story_repetition_penalty=0.8
    ),
    DecodingConfig(
        method="greedy",
        max_length=8,
        story_block_ngram=3,
        story_repetition_penalty=0.5,
        repetition_penalty=1.2,
    ),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_in_graph_story_decoding_equals_the_python_reference(config):
    step = bigram_step(CHAIN, strength=2.0, seed=1)
    tokens, scores = graph_story(config, step, rows=1)
    ref_tokens, ref_scores = story_decoding.python_decode_story(
        step, sentence_fn_for(1), config, vocab_size=V, photos=P
    )
    np.testing.assert_array_equal(tokens[0], ref_tokens)
    np.testing.assert_allclose(scores[0], ref_scores, atol=1e-4)


def test_count_penalty_moves_words_used_earlier_in_the_story():
    step = bigram_step(CHAIN, strength=2.0, seed=1)
    base = DecodingConfig(method="greedy", max_length=8, story_block_ngram=0)
    plain, _ = graph_story(base, step, rows=1)
    penalised, _ = graph_story(dataclasses.replace(base, story_repetition_penalty=2.0), step, 1)
    first = set(story_decoding.sentence_words(penalised[0][0]))
    assert np.array_equal(plain[0][0], penalised[0][0])  # nothing to penalise in sentence 1
    assert not first & set(story_decoding.sentence_words(penalised[0][1]))
    assert len({tuple(s) for s in penalised[0]}) > 1 and len({tuple(s) for s in plain[0]}) == 1


def test_length_normalisation_prefers_the_longer_sentence():
    from test_decoding import run

    # Raw scores: END alone (log 0.4 = -0.92) beats "a b c" (log .6 .7 .7 .9 = -1.33); divided by
    # GNMT's ((5 + len) / 6) ** 1 the 4-token sentence wins (-0.89 vs -0.92).
    table = {
        (): {END_ID: 0.4, 4: 0.6},
        (4,): {5: 0.7, END_ID: 0.3},
        (4, 5): {6: 0.7, END_ID: 0.3},
        (4, 5, 6): {END_ID: 0.9, 7: 0.1},
    }
    base = DecodingConfig(method="beam", beam_size=2, max_length=6, story_block_ngram=0)
    short, short_scores = run(base, table=table, n=1)
    assert short[0][0] == END_ID
    longer, long_scores = run(dataclasses.replace(base, length_normalization=1.0), table, n=1)
    np.testing.assert_array_equal(longer[0][:4], [4, 5, 6, END_ID])
    # Scores stay the raw log-probabilities.
    expected = np.log(0.6) + 2 * np.log(0.7) + np.log(0.9)
    assert long_scores[0] == pytest.approx(expected, abs=1e-3)


def _model(name):
    import keras

    from trainer.data import FeatureInfo
    from trainer.hparams import HParams
    from trainer.models.registry import build_model

    keras.utils.set_random_seed(11)
    info = FeatureInfo(12, (2, 3, 4), "test", "sis", False)
    hp = HParams(model=name, embedding_dim=8, hidden_dim=16, attention_dim=8, max_tokens=6)
    return build_model(hp.resolved("sis"), 14, info)


def _story_feats(model, stories=3):
    feats = {}
    if model.uses_global:
        feats["global_features"] = tf.random.normal([stories, P, 12], seed=3) * 3
    if model.uses_local:
        feats["local_features"] = tf.random.normal([stories, P, 24], seed=4) * 3
    return feats


WORDS = ["<pad>", "<start>", "<end>", "<unk>"] + [f"w{i}" for i in range(10)]


@pytest.mark.parametrize(
    "name", ["mrnn", "show_tell", "show_attend_tell", "global_context", "seq2seq_story"]
)
@pytest.mark.parametrize(
    "config",
    [
        DecodingConfig(method="greedy", max_length=7, story_block_ngram=2),
        DecodingConfig(
            method="beam",
            beam_size=3,
            max_length=7,
            story_block_ngram=3,
            story_repetition_penalty=0.3,
            length_normalization=0.6,
        ),
    ],
    ids=["greedy", "beam"],
)
def test_every_models_story_signature_equals_the_python_reference(name, config):
    from trainer.inference import Captioner

    model = _model(name)
    captioner = Captioner(model, WORDS, config)
    feats = _story_feats(model)
    out = captioner._decode_stories(captioner._features(**feats))
    std = model.standardize(captioner._features(**feats))
    for i in range(3):
        one = {k: v[i : i + 1] for k, v in std.items()}
        tokens, scores = story_decoding.python_decode_story(
            model.step, model.story_sentences(one), config, vocab_size=len(WORDS), photos=P
        )
        np.testing.assert_array_equal(out["tokens"][i].numpy(), tokens)
        np.testing.assert_allclose(out["scores"][i].numpy(), scores, atol=1e-4)
        n = config.story_block_ngram
        grams = story_ngrams(out["tokens"][i].numpy(), n)
        assert len(set(grams)) == len(grams)
    if model.uses_local and model.spatial_attention:
        assert out["attention"].shape == (3, P, 7, 6)


@pytest.mark.parametrize("name", ["show_tell", "global_context"])
def test_without_a_control_stories_keep_the_one_joint_pass(name):
    """Sequential decoding with the control off is the joint decoding (same sentences)."""
    from trainer.inference import Captioner

    model = _model(name)
    config = DecodingConfig(method="beam", beam_size=2, max_length=6, story_block_ngram=0)
    captioner = Captioner(model, WORDS, config)
    feats = captioner._features(**_story_feats(model))
    joint = captioner._decode_stories(feats)
    std = model.standardize(feats)
    sequential = story_decoding.decode_story(
        model.step,
        model.story_sentences(std),
        captioner.decode_fn,
        3,
        P,
        attention_size=captioner.attention_size,
    )
    np.testing.assert_array_equal(joint["tokens"], sequential["tokens"])
    np.testing.assert_allclose(joint["scores"], sequential["scores"], atol=1e-5)


def test_config_validation():
    from vistflow.errors import VistflowError

    with pytest.raises(VistflowError, match="story_block_ngram"):
        DecodingConfig(story_block_ngram=-1).validate()
    with pytest.raises(VistflowError, match="length_normalization"):
        DecodingConfig(length_normalization=-0.5).validate()
    assert DecodingConfig().story_block_ngram == 3 and DecodingConfig().story_control
    assert not DecodingConfig(story_block_ngram=0).story_control
