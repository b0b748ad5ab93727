"""m-RNN (002, Karpathy & Fei-Fei section 3.2): the image enters as a bias on the first step only.

    b_v = W_hi CNN(I)
    h_t = f(W_hx x_t + W_hh h_{t-1} + b_h + 1(t = 1) * b_v),   y_t = softmax(W_oh h_t + b_o)

h_0 = 0 and x_1 = START. `rnn_cell="rnn"` is the paper's ReLU RNN; `"lstm"` adds b_v to the LSTM
gate pre-activations at step 1 instead. The bias rides in the decoding state and is zeroed after
the first step, so beam search and teacher forcing need no step counter.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainer.data import GLOBAL
from trainer.models.base import CaptionModel
from trainer.models.layers import BiasedRecurrent


class MRNN(CaptionModel):
    default_rnn_cell = "rnn"
    rnn_cells = ("rnn", "lstm")
    default_optimizer = "rmsprop"  # 002: "best results using RMSprop"

    def __init__(self, hparams, vocab_size, info, backbone=None, **kwargs):
        super().__init__(hparams, vocab_size, info, backbone, **kwargs)
        hp = hparams
        self.cell = BiasedRecurrent(hp.rnn_cell, hp.hidden_dim, name="recurrent")
        self.image_bias = keras.layers.Dense(self.cell.width, name="image_bias")
        self.embedding = keras.layers.Embedding(vocab_size, hp.embedding_dim, name="embedding")
        self.image_dropout = keras.layers.Dropout(hp.dropout, name="image_dropout")
        self.word_dropout = keras.layers.Dropout(hp.dropout, name="word_dropout")
        self.output_dropout = keras.layers.Dropout(hp.dropout, name="output_dropout")
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def encode(self, feats, training=False):
        bias = self.image_bias(self.image_dropout(feats[GLOBAL], training=training))
        rows = tf.shape(bias)[0]
        h = tf.zeros([rows, self.hp.hidden_dim])
        state = {"h": h, "bias": bias}
        if self.hp.rnn_cell == "lstm":
            state["c"] = tf.zeros_like(h)
        return {}, state

    def step(self, tokens, context, state, training=False):
        x = self.word_dropout(self.embedding(tokens), training=training)
        h, new_state = self.cell(x, state, state["bias"])
        new_state["bias"] = tf.zeros_like(state["bias"])
        return self.logits(self.output_dropout(h, training=training)), new_state, None
