"""The one decoder: greedy, beam, sampling; in-graph results against hand-computed ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from trainer import decoding
from trainer.hparams import DecodingConfig
from vistflow.vocabulary import END_ID, PAD_ID, START_ID

V = 8  # ids 4..7 are the words a, b, c, d
A, B, C, D = 4, 5, 6, 7


def table_step(table: dict[tuple[int, ...], dict[int, float]]):
    """A step function from a table: history of emitted ids -> next-token probabilities.

    The state carries the history (ids, PAD-padded), so beams reorder it like any model state.
    """
    max_len = 8
    keys = list(table)

    def step(tokens, context, state):
        hist = tf.concat([state["hist"][:, 1:], tokens[:, None]], axis=1)  # newest last
        rows = []
        for key in keys:
            probs = np.full(V, 1e-6, np.float32)
            for tok, p in table[key].items():
                probs[tok] = p
            rows.append(np.log(probs / probs.sum()))
        key_mat = np.full((len(keys), max_len), PAD_ID, np.int32)
        for i, key in enumerate(keys):
            full = (START_ID, *key)
            key_mat[i, max_len - len(full) :] = full
        match = tf.reduce_all(tf.equal(hist[:, None, :], tf.constant(key_mat)[None]), axis=-1)
        index = tf.argmax(tf.cast(match, tf.int32), axis=1)
        logits = tf.gather(tf.constant(np.stack(rows)), index)
        return logits, {"hist": hist}, None

    def init(n: int):
        return {}, {"hist": tf.fill([n, max_len], PAD_ID)}

    return step, init


# Greedy takes "a" (0.6) and then can only finish weakly; the best sentence starts with "b".
TRAP = {
    (): {A: 0.6, B: 0.4},
    (A,): {C: 0.35, D: 0.35, END_ID: 0.3},
    (A, C): {END_ID: 1.0},
    (A, D): {END_ID: 1.0},
    (B,): {C: 0.95, END_ID: 0.05},
    (B, C): {END_ID: 1.0},
}


def run(config: DecodingConfig, table=TRAP, n: int = 2):
    step, init = table_step(table)
    context, state = init(n)
    out = decoding.decode(step, context, state, config, vocab_size=V)
    return out["tokens"].numpy(), out["scores"].numpy()


def test_greedy_follows_the_argmax_and_pads_after_end():
    tokens, scores = run(DecodingConfig(method="greedy", max_length=6))
    np.testing.assert_array_equal(tokens[0], [A, C, END_ID, PAD_ID, PAD_ID, PAD_ID])
    # Ties break to the lower id (C before D), like top_k; score = log 0.6 + log 0.35 + log 1.
    assert scores[0] == pytest.approx(np.log(0.6) + np.log(0.35) + 0.0, abs=1e-4)


def test_beam_beats_greedy_where_greedy_is_wrong():
    greedy_tokens, greedy_scores = run(DecodingConfig(method="greedy", max_length=6))
    beam_tokens, beam_scores = run(DecodingConfig(method="beam", beam_size=2, max_length=6))
    np.testing.assert_array_equal(beam_tokens[0][:3], [B, C, END_ID])
    assert beam_scores[0] == pytest.approx(np.log(0.4) + np.log(0.95), abs=1e-4)
    assert beam_scores[0] > greedy_scores[0] + 0.5


def test_beam_of_one_is_greedy_on_a_model():
    import keras

    from trainer.data import FeatureInfo
    from trainer.hparams import HParams
    from trainer.models.registry import build_model

    keras.utils.set_random_seed(3)
    info = FeatureInfo(12, (2, 3, 4), "test", "dii", False)
    hp = HParams(model="show_attend_tell", embedding_dim=8, hidden_dim=16, attention_dim=8)
    model = build_model(hp.resolved("dii"), 30, info)
    feats = {"local": tf.random.normal([6, 6, 4], seed=1)}
    context, state = model.encode(feats)
    cfg = DecodingConfig(method="greedy", max_length=9)
    greedy = decoding.decode(model.step, context, state, cfg, vocab_size=30, attention_size=6)
    beam1 = decoding.decode(
        model.step,
        context,
        state,
        dataclasses.replace(cfg, method="beam", beam_size=1),
        vocab_size=30,
        attention_size=6,
    )
    np.testing.assert_array_equal(greedy["tokens"], beam1["tokens"])
    np.testing.assert_allclose(greedy["scores"], beam1["scores"], rtol=1e-5)
    np.testing.assert_allclose(greedy["attention"], beam1["attention"], atol=1e-6)


def test_in_graph_beam_equals_python_beam_search_and_is_at_least_greedy():
    import keras

    from trainer.data import FeatureInfo
    from trainer.hparams import HParams
    from trainer.models.registry import build_model

    keras.utils.set_random_seed(4)
    info = FeatureInfo(12, (2, 3, 4), "test", "dii", False)
    hp = HParams(model="mrnn", embedding_dim=8, hidden_dim=16).resolved("dii")
    model = build_model(hp, 20, info)
    feats = {"global": tf.random.normal([5, 12], seed=2) * 3}
    context, state = model.encode(feats)
    cfg = DecodingConfig(method="beam", beam_size=4, max_length=7, repetition_penalty=1.3)
    graph = tf.function(lambda c, s: decoding.decode(model.step, c, s, cfg, vocab_size=20))(
        context, state
    )
    greedy = decoding.decode(
        model.step, context, state, dataclasses.replace(cfg, method="greedy"), vocab_size=20
    )
    for i in range(5):
        row_state = {k: v[i : i + 1] for k, v in state.items()}
        tokens, score = decoding.python_beam_search(model.step, {}, row_state, cfg, vocab_size=20)
        np.testing.assert_array_equal(graph["tokens"][i].numpy(), tokens)
        assert graph["scores"][i].numpy() == pytest.approx(score, abs=1e-4)
        assert score >= greedy["scores"][i].numpy() - 1e-5


def test_repetition_penalty_discourages_repeats():
    # Whatever came before, the model prefers "a", then "b", then END.
    always = {(): {A: 0.5, B: 0.3, END_ID: 0.2}}
    for n in range(1, 5):
        for hist in _histories(n):
            always[hist] = {A: 0.5, B: 0.3, END_ID: 0.2}
    plain_config = DecodingConfig(method="greedy", max_length=4, story_block_ngram=0)
    plain, _ = run(plain_config, table=always, n=1)
    np.testing.assert_array_equal(plain[0], [A, A, A, A])
    # The default trigram blocking lets "a a a" be said once, then not again.
    blocked, _ = run(DecodingConfig(method="greedy", max_length=4), table=always, n=1)
    np.testing.assert_array_equal(blocked[0], [A, A, A, B])
    penalized, _ = run(dataclasses.replace(plain_config, repetition_penalty=5.0), table=always, n=1)
    # log p < 0, so a used word's logit is multiplied by 5: "a", then "b", then END wins.
    np.testing.assert_array_equal(penalized[0], [A, B, END_ID, PAD_ID])


def _histories(n: int):
    import itertools

    return itertools.product((A, B), repeat=n)


def test_sampling_is_seeded_and_follows_the_distribution():
    table = {(): {A: 0.7, B: 0.3}, (A,): {END_ID: 1.0}, (B,): {END_ID: 1.0}}
    cfg = DecodingConfig(method="sample", max_length=3, seed=7)
    first, scores = run(cfg, table=table, n=400)
    again, _ = run(cfg, table=table, n=400)
    np.testing.assert_array_equal(first, again)  # same seed, same samples
    share_a = float(np.mean(first[:, 0] == A))
    assert 0.6 < share_a < 0.8
    expected = np.where(first[:, 0] == A, np.log(0.7), np.log(0.3))
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    other, _ = run(dataclasses.replace(cfg, seed=8), table=table, n=400)
    assert not np.array_equal(first, other)


def test_special_tokens_are_never_generated():
    # A model that puts most mass on PAD/START/UNK still emits only words and END.
    table = {(): {PAD_ID: 0.4, START_ID: 0.3, 3: 0.2, C: 0.1}, (C,): {3: 0.9, END_ID: 0.1}}
    tokens, _ = run(DecodingConfig(method="beam", beam_size=3, max_length=3), table=table)
    np.testing.assert_array_equal(tokens[0], [C, END_ID, PAD_ID])


@pytest.mark.parametrize(
    "name,options",
    [
        ("mrnn", {"rnn_cell": "lstm"}),
        ("show_attend_tell", {"rnn_cell": "gru"}),
        ("seq2seq_story", {"attention": False}),
    ],
)
def test_paper_variants_build_train_and_decode(name, options):
    """The options the references name: m-RNN as an LSTM, 003's GRU, 004 without attention."""
    import keras

    from trainer.data import FeatureInfo
    from trainer.hparams import HParams
    from trainer.inference import Captioner
    from trainer.models.registry import build_model

    keras.utils.set_random_seed(5)
    info = FeatureInfo(12, (2, 3, 4), "test", "sis", False)
    hp = HParams(model=name, embedding_dim=8, hidden_dim=16, attention_dim=8, max_tokens=4)
    model = build_model(hp.replace(**options).resolved("sis"), 15, info)
    inputs = model.dummy_inputs(rows=2)
    assert model(inputs).shape[-1] == 15
    words = ["<pad>", "<start>", "<end>", "<unk>"] + [f"w{i}" for i in range(11)]
    captioner = Captioner(model, words, DecodingConfig(method="beam", beam_size=2, max_length=5))
    feats = {}
    if model.uses_global:
        feats["global_features"] = tf.random.normal([3, 5, 12], seed=3)
    if model.uses_local:
        feats["local_features"] = tf.random.normal([3, 5, 24], seed=4)
    out = captioner.story_features(**feats)
    assert out["sentences"].shape == (3, 5) and out["scores"].shape == (3, 5)
    assert np.all(out["scores"].numpy() < 0)
