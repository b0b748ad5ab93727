"""The alignment model of 002 (section 3.1): regions and words in one h-dimensional space.

Image (3.1.1), per region b:   v = W_m CNN(I_b) + b_m
    CNN(I_b) here is the backbone's local grid average-pooled over window b (regions.py), and
    the whole image is the backbone's global (fc7-like) vector with its own projection W_g: the
    pooled grid (c-d) and the global vector (D-d) are different spaces, whereas the paper's R-CNN
    gives every box, the whole image included, the same 4096-d fc7 (one W_m).
Sentence (3.1.2, eq. 2), per word t, a bidirectional RNN with ReLU:
    x_t = W_w I_t,  e_t = f(W_e x_t + b_e)
    h^f_t = f(e_t + W_f h^f_{t-1} + b_f),   h^b_t = f(e_t + W_b h^b_{t+1} + b_b)
    s_t = f(W_d (h^f_t + h^b_t) + b_d)
Score (3.1.3, eq. 8):  S_kl = sum_{t in g_l} max_{i in g_k} v_i . s_t
Dropout on the inputs of every non-recurrent layer (W_m/W_g, W_e, W_d), never on W_f/W_b (3.3).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from retrieval.config import AlignmentConfig
from vistflow.vocabulary import PAD_ID


class ReluRecurrentCell(keras.layers.Layer):
    """h_t = relu(x_t + W h_{t-1} + b): the BRNN stream of eq. 2 (its input is added as is)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        h = ops.relu(inputs + ops.matmul(prev, self.recurrent_kernel) + self.bias)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class AlignmentModel(keras.Model):
    """Region and word encoders; `call` is not used (training needs both sides at once)."""

    def __init__(
        self,
        config: AlignmentConfig,
        vocab_size: int,
        region_dim: int,
        global_dim: int,
        word_vectors: np.ndarray | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cfg = config
        self.config = cfg
        self.vocab_size, self.region_dim, self.global_dim = vocab_size, region_dim, global_dim
        init = (
            keras.initializers.Constant(word_vectors)
            if word_vectors is not None
            else keras.initializers.RandomNormal(stddev=0.1, seed=cfg.seed)
        )
        self.word_embedding = keras.layers.Embedding(
            vocab_size,
            cfg.word_dim,
            embeddings_initializer=init,
            trainable=cfg.train_word_vectors or word_vectors is None,
            name="word_embedding",  # W_w
        )
        self.word_dropout = keras.layers.Dropout(cfg.dropout, seed=cfg.seed + 1)
        self.word_proj = keras.layers.Dense(cfg.hidden_dim, activation="relu", name="W_e")
        self.brnn = keras.layers.Bidirectional(
            keras.layers.RNN(
                ReluRecurrentCell(cfg.hidden_dim, name="forward_cell"),
                return_sequences=True,
                name="forward",
            ),
            backward_layer=keras.layers.RNN(
                ReluRecurrentCell(cfg.hidden_dim, name="backward_cell"),
                return_sequences=True,
                go_backwards=True,
                name="backward",
            ),
            merge_mode="sum",  # h^f_t + h^b_t, as eq. 2 feeds W_d
            name="brnn",
        )
        self.brnn_dropout = keras.layers.Dropout(cfg.dropout, seed=cfg.seed + 2)
        self.word_out = keras.layers.Dense(cfg.embed_dim, activation="relu", name="W_d")
        self.region_dropout = keras.layers.Dropout(cfg.dropout, seed=cfg.seed + 3)
        self.region_proj = keras.layers.Dense(cfg.embed_dim, name="W_m")
        self.global_proj = keras.layers.Dense(cfg.embed_dim, name="W_g") if cfg.use_global else None
        # Per-dimension standardisation of the CNN features, fitted on the training split
        # (`set_feature_stats`) and saved with the weights. Not in the paper: fc7 activations are
        # O(1), but a backbone's raw activations may be orders of magnitude smaller (the seeded
        # `tiny` CNN's are ~0.01), which stalls SGD on W_m.
        self.window_mean = self.add_weight(
            shape=(region_dim,), initializer="zeros", trainable=False, name="window_mean"
        )
        self.window_scale = self.add_weight(
            shape=(region_dim,), initializer="ones", trainable=False, name="window_scale"
        )
        self.global_mean = self.add_weight(
            shape=(global_dim,), initializer="zeros", trainable=False, name="global_mean"
        )
        self.global_scale = self.add_weight(
            shape=(global_dim,), initializer="ones", trainable=False, name="global_scale"
        )

    def set_feature_stats(self, windows: np.ndarray, global_features: np.ndarray) -> None:
        """Standardise features with these (training) samples' mean and 1/std per dimension."""
        for mean, scale, x in (
            (self.window_mean, self.window_scale, windows),
            (self.global_mean, self.global_scale, global_features),
        ):
            x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
            std = x.std(axis=0)
            mean.assign(x.mean(axis=0).astype(np.float32))
            # Constant (dead) dimensions carry nothing: scale them to zero, not to infinity.
            scale.assign(np.where(std > 1e-8, 1.0 / np.maximum(std, 1e-8), 0.0).astype(np.float32))

    def build_all(self, num_windows: int) -> None:
        """Create every variable (for restoring weights or exporting before any training)."""
        self.embed_regions(
            np.zeros([1, num_windows, self.region_dim], np.float32),
            np.zeros([1, self.global_dim], np.float32),
        )
        self.embed_words(np.ones([1, 2], np.int32))

    def embed_regions(self, windows, global_features, training=False):
        """Pooled windows `[B, R_w, c]` + global `[B, D]` -> regions `[B, R, h]` (global first)."""
        parts = []
        if self.global_proj is not None:
            g = (global_features - self.global_mean) * self.global_scale
            g = self.global_proj(self.region_dropout(g, training=training))
            parts.append(g[:, None, :])
        if self.config.windows:  # static: windows.shape[1] is None inside traced functions
            x = (windows - self.window_mean) * self.window_scale
            parts.append(self.region_proj(self.region_dropout(x, training=training)))
        return ops.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def embed_words(self, tokens, training=False):
        """Word ids `[B, T]` (PAD = 0) -> (s `[B, T, h]`, mask `[B, T]` float32)."""
        mask = ops.not_equal(tokens, PAD_ID)
        x = self.word_embedding(tokens)
        e = self.word_proj(self.word_dropout(x, training=training))
        h = self.brnn(e, mask=mask, training=training)
        s = self.word_out(self.brnn_dropout(h, training=training))
        return s, ops.cast(mask, "float32")


def pair_scores(regions, words, word_mask):
    """S `[B_img, B_sent]` = sum_t max_i v_i . s_t (eq. 8) for every image-sentence pair.

    Args:
      regions: `[B_img, R, h]`; words: `[B_sent, T, h]`; word_mask: `[B_sent, T]` 1 = real word.
    """
    # One [B_img*R, h] x [h, B_sent*T] matmul: ~2x faster than the equivalent einsum on CPU.
    shape_r, shape_w = tf.shape(regions), tf.shape(words)
    dim = shape_r[2]
    dots = tf.matmul(tf.reshape(regions, [-1, dim]), tf.reshape(words, [-1, dim]), transpose_b=True)
    dots = tf.reshape(dots, [shape_r[0], shape_r[1], shape_w[0], shape_w[1]])
    best = tf.reduce_max(dots, axis=1)  # [B_img, B_sent, T]: each word's best region
    return tf.reduce_sum(best * word_mask[None, :, :], axis=-1)


def word_region_scores(regions, words):
    """`[B, T, R]` v_i . s_t of each sentence with its own image (the MRF unaries)."""
    return tf.einsum("btd,brd->btr", words, regions)
