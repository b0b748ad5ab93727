"""Every model builds, trains under the one loss, and overfits a tiny batch."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.data import GLOBAL, LOCAL, PHOTO_MASK, PREV_TOKENS, TOKENS_IN, FeatureInfo
from trainer.hparams import MODEL_NAMES, HParams
from vistflow.vocabulary import END_ID, PAD_ID, START_ID

VOCAB = 24
T = 7  # max_tokens 6 + 1
INFO = FeatureInfo(
    global_dim=12, local_shape=(2, 3, 4), backbone="test", task="sis", has_image_bytes=False
)
SMALL = dict(
    embedding_dim=16,
    hidden_dim=32,
    attention_dim=16,
    dropout=0.0,
    max_tokens=T - 1,
    attention_regularization=0.0,
    learning_rate=0.02,
    optimizer="adam",
)


def sentences(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n random sentences of 3..5 words: (tokens_in, targets) [n, T]."""
    tokens_in = np.full((n, T), PAD_ID, np.int32)
    targets = np.full((n, T), PAD_ID, np.int32)
    for i in range(n):
        words = rng.integers(4, VOCAB, rng.integers(3, 6))
        tokens_in[i, : len(words) + 1] = [START_ID, *words]
        targets[i, : len(words) + 1] = [*words, END_ID]
    return tokens_in, targets


def batch(model_name: str, rng, rows: int = 8, photos: int = 5):
    """Distinct random features, each with its own random sentence (nothing to generalise)."""
    from trainer.models.registry import model_class

    cls = model_class(model_name)
    lead = (rows // photos + 1, photos) if cls.sequence_model else (rows,)
    n = int(np.prod(lead))
    tokens_in, targets = sentences(rng, n)
    x = {
        GLOBAL: rng.normal(size=(*lead, INFO.global_dim)).astype(np.float32),
        LOCAL: rng.normal(size=(*lead, INFO.local_positions, 4)).astype(np.float32),
        TOKENS_IN: tokens_in.reshape(*lead, T),
    }
    y = targets.reshape(*lead, T)
    if cls.sequence_model:
        x[PHOTO_MASK] = np.ones(lead, np.float32)
        prev = np.concatenate([np.full((*lead[:1], 1, T), PAD_ID), y[:, :-1]], axis=1)
        prev[:, 0, 0] = START_ID
        x[PREV_TOKENS] = prev.astype(np.int32)
    return x, y


def compile_model(model, lr: float):
    import keras

    from trainer.models import layers

    model.compile(
        optimizer=keras.optimizers.Adam(lr, clipvalue=5.0),
        loss=layers.MaskedTokenCrossEntropy(),
        metrics=[layers.MaskedTokenMetric("nll")],
        jit_compile=False,
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_overfits_a_tiny_batch(name):
    import keras

    from trainer.models.registry import build_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    hp = HParams(model=name, **SMALL).resolved("sis")
    model = build_model(hp, VOCAB, INFO)
    x, y = batch(name, rng)
    logits = model(x)
    assert tuple(logits.shape) == (*y.shape, VOCAB)
    compile_model(model, hp.learning_rate)
    history = model.fit(x, y, batch_size=len(y), epochs=50, verbose=0).history["token_nll"]
    # Starts near uniform (log 24 = 3.18) and must nearly memorise the 8+ sentences.
    assert history[0] > 2.5
    assert history[-1] < history[0] / 10, (name, history[0], history[-1])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_padded_tokens_do_not_count(name):
    """Changing logits at PAD targets must not change the loss (masking is per token)."""
    import tensorflow as tf

    from trainer.models.layers import MaskedTokenCrossEntropy

    rng = np.random.default_rng(1)
    _, y = batch(name, rng)
    logits = rng.normal(size=(*y.shape, VOCAB)).astype(np.float32)
    noisy = np.where((y == PAD_ID)[..., None], logits * 50 + 3, logits)
    loss = MaskedTokenCrossEntropy()
    a, b = float(loss(y, logits)), float(loss(y, noisy))
    assert a == pytest.approx(b, rel=1e-6)
    mask = y != PAD_ID
    ce = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).numpy()
    assert a == pytest.approx(ce[mask].mean(), rel=1e-5)


def test_seq2seq_story_without_previous_sentence_ignores_it():
    """004's ablation: no sentence encoder weights, and the previous sentence changes nothing."""
    import keras

    from trainer.models.registry import build_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    x, y = batch("seq2seq_story", rng)
    with_prev = build_model(HParams(model="seq2seq_story", **SMALL).resolved("sis"), VOCAB, INFO)
    hp = HParams(model="seq2seq_story", previous_sentence=False, **SMALL).resolved("sis")
    without = build_model(hp, VOCAB, INFO)
    assert PREV_TOKENS in with_prev.feature_inputs()
    assert PREV_TOKENS not in without.feature_inputs()
    assert any("sentence_encoder" in v.path for v in with_prev.variables)
    assert not any("sentence_encoder" in v.path for v in without.variables)
    other = dict(x, **{PREV_TOKENS: np.roll(x[PREV_TOKENS], 1, axis=0)})
    np.testing.assert_allclose(without(x), without(other))
    assert not np.allclose(with_prev(x), with_prev(other))
    compile_model(without, hp.learning_rate)
    nll = without.fit(x, y, batch_size=len(y), epochs=50, verbose=0).history["token_nll"]
    assert nll[-1] < nll[0] / 10


def test_feature_statistics_skip_padded_photos_and_floor_dead_dimensions():
    """Per-dimension mean/scale over real photos only; a constant dimension is not blown up."""
    import tensorflow as tf

    from trainer.models.registry import build_model
    from trainer.standardize import feature_statistics, fit_standardizer

    rng = np.random.default_rng(3)
    model = build_model(HParams(model="global_context", **SMALL).resolved("sis"), VOCAB, INFO)
    x, y = batch("global_context", rng, rows=20)
    x[GLOBAL] = (0.01 * x[GLOBAL] + 3.0).astype(np.float32)
    x[GLOBAL][..., 0] = 0.0  # a dead ReLU unit
    x[PHOTO_MASK][:, -1] = 0.0
    x[GLOBAL][:, -1] = 1e6  # padding that must not count
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    stats = feature_statistics(model, ds)
    real = x[GLOBAL][:, :-1].reshape(-1, INFO.global_dim)
    np.testing.assert_allclose(stats["global_mean"], real.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["global_scale"][1:], real.std(0)[1:], rtol=1e-3)
    assert stats["global_scale"][0] == pytest.approx(0.01 * np.median(real.std(0)[1:]), rel=1e-3)
    local = x[LOCAL][:, :-1].reshape(-1, 4)
    np.testing.assert_allclose(stats["local_mean"], local.mean(0), rtol=1e-4, atol=1e-6)
    fit_standardizer(model, ds)
    z = model.features(x)[GLOBAL].numpy()[:, :-1].reshape(-1, INFO.global_dim)
    np.testing.assert_allclose(z[:, 1:].mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z[:, 1:].std(0), 1.0, rtol=1e-3)


def test_without_standardization_features_pass_unchanged():
    from trainer.models.registry import build_model

    hp = HParams(model="show_tell", standardize_features=False, **SMALL).resolved("sis")
    model = build_model(hp, VOCAB, INFO)
    x, _ = batch("show_tell", np.random.default_rng(4))
    assert model.standardizer is None
    np.testing.assert_array_equal(model.features(x)[GLOBAL], x[GLOBAL])
