"""Show, Attend and Tell: soft attention over the local grid (003, and 000's cnn-att-lstm baseline).

Local CNN features a_i (the conv grid) pass through 003's FC encoder (dense + ReLU + dropout);
at each step Bahdanau attention over them, conditioned on h_{t-1}, gives a context z_t that is
gated (Xu et al.'s beta) and fed to the LSTM or GRU together with the previous word. The word
distribution is Xu et al.'s deep output, softmax(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t)).
h_0 (and c_0) come from an MLP over the mean annotation vector; training adds Xu et al.'s doubly
stochastic attention penalty lambda * sum_i (1 - sum_t alpha_ti)^2.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainer.data import LOCAL
from trainer.models.base import CaptionModel
from trainer.models.layers import BahdanauAttention, Recurrent, token_mask


class ShowAttendTell(CaptionModel):
    uses_global = False
    uses_local = True
    spatial_attention = True
    rnn_cells = ("lstm", "gru")

    def __init__(self, hparams, vocab_size, info, backbone=None, **kwargs):
        super().__init__(hparams, vocab_size, info, backbone, **kwargs)
        hp = hparams
        self.encoder = keras.layers.Dense(hp.embedding_dim, activation="relu", name="encoder")
        self.encoder_dropout = keras.layers.Dropout(hp.dropout, name="encoder_dropout")
        self.init_h = keras.layers.Dense(hp.hidden_dim, activation="tanh", name="init_h")
        if hp.rnn_cell == "lstm":  # a GRU has no cell state
            self.init_c = keras.layers.Dense(hp.hidden_dim, activation="tanh", name="init_c")
        self.attention = BahdanauAttention(hp.attention_dim, name="attention")
        self.gate = keras.layers.Dense(1, activation="sigmoid", name="context_gate")
        self.embedding = keras.layers.Embedding(vocab_size, hp.embedding_dim, name="embedding")
        self.word_dropout = keras.layers.Dropout(hp.dropout, name="word_dropout")
        self.cell = Recurrent(hp.rnn_cell, hp.hidden_dim, name="recurrent")
        self.out_h = keras.layers.Dense(hp.embedding_dim, name="deep_output_h")
        self.out_z = keras.layers.Dense(hp.embedding_dim, use_bias=False, name="deep_output_z")
        self.output_dropout = keras.layers.Dropout(hp.dropout, name="output_dropout")
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def encode(self, feats, training=False):
        memory = self.encoder_dropout(self.encoder(feats[LOCAL]), training=training)
        mean = tf.reduce_mean(memory, axis=1)
        c0 = self.init_c(mean) if self.hp.rnn_cell == "lstm" else None
        state = self.cell.initial_state(self.init_h(mean), c0)
        return {"memory": memory, "keys": self.attention.keys(memory)}, state

    def step(self, tokens, context, state, training=False):
        z, alpha = self.attention(context["keys"], context["memory"], state["h"])
        z = z * self.gate(state["h"])
        e = self.word_dropout(self.embedding(tokens), training=training)
        h, state = self.cell(tf.concat([e, z], axis=-1), state, training=training)
        deep = tf.tanh(e + self.out_h(h) + self.out_z(z))
        return self.logits(self.output_dropout(deep, training=training)), state, alpha

    def regularize(self, tokens_in, attention):
        if not self.hp.attention_regularization or attention is None:
            return
        mask = token_mask(tokens_in)[:, :, None]  # steps that predict a real token
        coverage = tf.reduce_sum(attention * mask, axis=1)  # [R, L]
        # Per target token, like the cross-entropy, so lambda keeps Xu et al.'s weighting
        # (their loss sums over a sentence's words plus one penalty per sentence).
        tokens = tf.maximum(tf.reduce_sum(mask), 1.0)
        penalty = tf.reduce_sum(tf.square(1.0 - coverage)) / tokens
        self.add_loss(self.hp.attention_regularization * penalty)
