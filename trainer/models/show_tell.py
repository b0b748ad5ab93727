"""Show and Tell (Vinyals et al., NIC), the model of 001: the CNN vector is the LSTM's first input.

    x_{-1} = W_e CNN(I),   x_t = W_s S_t,   p_{t+1} = LSTM(x_t)

h_0 = c_0 = 0; the image step's output is not scored; word generation starts from START. With
`fine_tune_cnn` the backbone is trained jointly with the LSTM from pixels (001's joint learning).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainer.data import GLOBAL
from trainer.models.base import CaptionModel
from trainer.models.layers import Recurrent


class ShowTell(CaptionModel):
    def __init__(self, hparams, vocab_size, info, backbone=None, **kwargs):
        super().__init__(hparams, vocab_size, info, backbone, **kwargs)
        hp = hparams
        self.image_embedding = keras.layers.Dense(hp.embedding_dim, name="image_embedding")
        self.embedding = keras.layers.Embedding(vocab_size, hp.embedding_dim, name="embedding")
        self.cell = Recurrent(hp.rnn_cell, hp.hidden_dim, name="recurrent")
        self.image_dropout = keras.layers.Dropout(hp.dropout, name="image_dropout")
        self.word_dropout = keras.layers.Dropout(hp.dropout, name="word_dropout")
        self.output_dropout = keras.layers.Dropout(hp.dropout, name="output_dropout")
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def encode(self, feats, training=False):
        image = self.image_embedding(self.image_dropout(feats[GLOBAL], training=training))
        zeros = tf.zeros([tf.shape(image)[0], self.hp.hidden_dim])
        _, state = self.cell(image, self.cell.initial_state(zeros), training=training)
        return {}, state

    def step(self, tokens, context, state, training=False):
        x = self.word_dropout(self.embedding(tokens), training=training)
        h, state = self.cell(x, state, training=training)
        return self.logits(self.output_dropout(h, training=training)), state, None
