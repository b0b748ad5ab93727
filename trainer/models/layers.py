"""Building blocks shared by the models: recurrent cells, attention, masked loss and metrics."""

from __future__ import annotations

import keras
from keras import ops

from vistflow.vocabulary import PAD_ID

NEG_INF = -1e9


class Recurrent(keras.layers.Layer):
    """One step of an LSTM or GRU (Keras cells) on a state dict {"h"} or {"h", "c"}.

    Gate biases follow Keras (LSTM forget bias 1); recurrent weights are orthogonal.
    """

    def __init__(self, kind: str, units: int, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.units = kind, units
        if kind == "lstm":
            self.cell = keras.layers.LSTMCell(units, name="lstm_cell")
        elif kind == "gru":
            self.cell = keras.layers.GRUCell(units, reset_after=True, name="gru_cell")
        else:
            raise ValueError(f"unknown recurrent cell {kind!r}")

    def initial_state(self, h, c=None) -> dict:
        state = {"h": h}
        if self.kind == "lstm":
            state["c"] = ops.zeros_like(h) if c is None else c
        return state

    def call(self, x, state: dict, training=False):
        if self.kind == "lstm":
            h, (h, c) = self.cell(x, [state["h"], state["c"]], training=training)
            return h, {"h": h, "c": c}
        h, new = self.cell(x, [state["h"]], training=training)
        return h, {"h": new[0] if isinstance(new, (list, tuple)) else new}


class BiasedRecurrent(keras.layers.Layer):
    """m-RNN recurrence (002 eq. 14): h_t = f(W_hx x_t + W_hh h_{t-1} + b_h + 1(t=1) * b_v).

    `kind="rnn"` is the paper's simple RNN with ReLU (NeuralTalk); `kind="lstm"` adds the image
    bias to the LSTM's gate pre-activations instead (the 'RNN or LSTM' option).
    """

    def __init__(self, kind: str, units: int, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.units = kind, units
        width = 4 * units if kind == "lstm" else units
        self.width = width
        self.input_proj = keras.layers.Dense(width, name="input_proj")
        self.recurrent_proj = keras.layers.Dense(
            width, use_bias=False, kernel_initializer="orthogonal", name="recurrent_proj"
        )

    def build(self, input_shape):
        if self.kind == "lstm":
            # Unit forget bias, as Keras' LSTM, so early training keeps the memory.
            self.forget_bias = self.add_weight(
                shape=(self.units,), initializer="ones", name="forget_bias"
            )

    def call(self, x, state: dict, bias):
        z = self.input_proj(x) + self.recurrent_proj(state["h"]) + bias
        if self.kind == "rnn":
            h = ops.relu(z)
            return h, {"h": h}
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f + self.forget_bias) * state["c"] + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, {"h": h, "c": c}


class FeatureStandardizer(keras.layers.Layer):
    """(x - mean) / scale per feature dimension (global) or channel (local), frozen statistics.

    Backbone activations can sit on any scale: a random-weight network gives values near 0.01
    that barely move the decoder (the captions then collapse to the language prior), ImageNet
    fc7 vectors are ReLU outputs with large positive means. The statistics come from the train
    split before the first step (`trainer/standardize.py`) and are weights of the model, so the
    exported graph and a warm start carry them. Unset, the layer is the identity.
    """

    def __init__(self, global_dim: int, local_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.global_dim, self.local_channels = global_dim, local_channels

    def build(self, input_shape=None):
        def stat(name, size, init):
            return self.add_weight(shape=(size,), initializer=init, trainable=False, name=name)

        self.global_mean = stat("global_mean", self.global_dim, "zeros")
        self.global_scale = stat("global_scale", self.global_dim, "ones")
        if self.local_channels:
            self.local_mean = stat("local_mean", self.local_channels, "zeros")
            self.local_scale = stat("local_scale", self.local_channels, "ones")

    def call(self, feats: dict) -> dict:
        out = dict(feats)
        if "global" in feats:
            out["global"] = (feats["global"] - self.global_mean) / self.global_scale
        if "local" in feats and self.local_channels:
            out["local"] = (feats["local"] - self.local_mean) / self.local_scale
        return out

    def set_statistics(self, stats: dict) -> None:
        """stats: {"global_mean", "global_scale", "local_mean"?, "local_scale"?} numpy arrays."""
        for name, value in stats.items():
            getattr(self, name).assign(value)


def _weighted_sum(weights, memory):
    """sum_l weights[r, l] * memory[r, l, :] as a batched mat-vec (no [R, L, C] temporary)."""
    return ops.squeeze(ops.matmul(weights[:, None, :], memory), 1)


class BahdanauAttention(keras.layers.Layer):
    """Additive attention (Bahdanau et al.; 000 eq. 5-6, 003): softmax(w^T tanh(W_l L + W_h h + b))."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.key_proj = keras.layers.Dense(units, use_bias=False, name="key_proj")
        self.query_proj = keras.layers.Dense(units, name="query_proj")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def keys(self, memory):
        """Projected memory, computed once per image instead of once per decoding step."""
        return self.key_proj(memory)

    def call(self, keys, memory, query):
        scores = ops.squeeze(self.score(ops.tanh(keys + self.query_proj(query)[:, None, :])), -1)
        weights = ops.softmax(scores, axis=-1)
        return _weighted_sum(weights, memory), weights


class LuongAttention(keras.layers.Layer):
    """Multiplicative ('general') attention of Luong et al., as in 004's attention variant."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.key_proj = keras.layers.Dense(units, use_bias=False, name="key_proj")
        self.combine = keras.layers.Dense(units, activation="tanh", name="combine")

    def keys(self, memory):
        return self.key_proj(memory)

    def call(self, keys, memory, mask, query):
        scores = ops.squeeze(ops.matmul(keys, query[:, :, None]), -1)
        scores = ops.where(mask > 0, scores, NEG_INF)
        weights = ops.softmax(scores, axis=-1)
        context = _weighted_sum(weights, memory)
        return self.combine(ops.concatenate([context, query], axis=-1)), weights


def token_mask(targets):
    return ops.cast(ops.not_equal(targets, PAD_ID), "float32")


class MaskedTokenCrossEntropy(keras.losses.Loss):
    """Mean cross-entropy per real (non-PAD) target token of the batch."""

    def __init__(self, name: str = "masked_token_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        mask = token_mask(y_true)
        return ops.sum(ce * mask) / ops.maximum(ops.sum(mask), 1.0)


class MaskedTokenMetric(keras.metrics.Metric):
    """Token-weighted mean over the epoch of per-token NLL ('nll') or accuracy ('accuracy')."""

    def __init__(self, kind: str, name: str | None = None, **kwargs):
        super().__init__(name=name or f"token_{kind}", **kwargs)
        self.kind = kind
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        mask = token_mask(y_true)
        if self.kind == "nll":
            values = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        else:
            values = ops.cast(ops.equal(ops.argmax(y_pred, axis=-1), y_true), "float32")
        self.total.assign_add(ops.sum(values * mask))
        self.count.assign_add(ops.sum(mask))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}
