"""CNN-LSTM with local-object attention and global semantic context (000).

An MLP embeds the P fc7 vectors of a story into a context vector that is the shared initial hidden
state of P parallel LSTMs (eq. 4: h_0 = W_0 tanh(W_g G + b_g)); LSTM j decodes sentence j with
Bahdanau attention over image j's conv grid (eq. 5-6), and the attended vector v_t enters every
gate (eq. 3), i.e. the LSTM input is [x_{t-1}; v_t]. The parallel LSTMs share weights (the same
cell unrolled once per image), so the P sentences decode as P rows of one batch.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainer.data import GLOBAL, LOCAL, PHOTO_MASK, TOKENS_IN
from trainer.models.base import SequenceCaptionModel
from trainer.models.layers import BahdanauAttention, Recurrent


class GlobalContext(SequenceCaptionModel):
    uses_local = True
    spatial_attention = True

    def __init__(self, hparams, vocab_size, info, backbone=None, **kwargs):
        super().__init__(hparams, vocab_size, info, backbone, **kwargs)
        hp = hparams
        self.global_dropout = keras.layers.Dropout(hp.dropout, name="global_dropout")
        self.context_mlp = keras.layers.Dense(hp.hidden_dim, activation="tanh", name="context_mlp")
        self.context_out = keras.layers.Dense(hp.hidden_dim, use_bias=False, name="context_out")
        self.attention = BahdanauAttention(hp.attention_dim, name="attention")
        self.embedding = keras.layers.Embedding(vocab_size, hp.embedding_dim, name="embedding")
        self.word_dropout = keras.layers.Dropout(hp.dropout, name="word_dropout")
        self.cell = Recurrent("lstm", hp.hidden_dim, name="recurrent")
        self.output_dropout = keras.layers.Dropout(hp.dropout, name="output_dropout")
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def story_context(self, feats, photo_mask, training=False):
        """Eq. 4 over the story's fc7 vectors (masked photos contribute zeros): [B, H]."""
        g = feats[GLOBAL] * photo_mask[:, :, None]
        g = tf.reshape(g, [-1, self.hp.photos_per_story * self.info.global_dim])
        return self.context_out(self.context_mlp(self.global_dropout(g, training=training)))

    def encode_story(self, feats, photo_mask, training=False, photos=None):
        """Rows for photos [0, photos) of every story: [B * photos] contexts and states."""
        p = photos or self.hp.photos_per_story
        h0 = self.story_context(feats, photo_mask, training)
        local = feats[LOCAL][:, :p]
        local = tf.reshape(local, [-1, *local.shape[2:]])
        context = {"memory": local, "keys": self.attention.keys(local)}
        return context, self.cell.initial_state(tf.repeat(h0, p, axis=0))

    def story_sentences(self, feats):
        """Sentence j's rows: LSTM j of every story (h0 from the whole story, attention on j)."""
        h0 = self.story_context(feats, tf.ones(tf.shape(feats[GLOBAL])[:2]))

        def sentence(j, prev_tokens):
            local = tf.gather(feats[LOCAL], j, axis=1)
            context = {"memory": local, "keys": self.attention.keys(local)}
            return context, self.cell.initial_state(h0)

        return sentence

    def step(self, tokens, context, state, training=False):
        v, alpha = self.attention(context["keys"], context["memory"], state["h"])
        x = self.word_dropout(self.embedding(tokens), training=training)
        h, state = self.cell(tf.concat([x, v], axis=-1), state, training=training)
        return self.logits(self.output_dropout(h, training=training)), state, alpha

    def call(self, inputs, training=False):
        feats = self.features(inputs)
        context, state = self.encode_story(feats, inputs[PHOTO_MASK], training)
        tokens_in = inputs[TOKENS_IN]
        rows = tf.reshape(tokens_in, [-1, tokens_in.shape[-1]])
        logits, _ = self.teacher_force(rows, context, state, training)
        p, t = self.hp.photos_per_story, tokens_in.shape[-1]
        return tf.reshape(logits, [-1, p, t, self.vocab_size])

    def decode_stories(self, feats, decode_fn, first_only=False):
        p = self.hp.photos_per_story
        mask = tf.ones(tf.shape(feats[GLOBAL])[:2])
        photos = 1 if first_only else p
        context, state = self.encode_story(feats, mask, photos=photos)
        out = decode_fn(self.step, context, state)
        return {k: tf.reshape(v, [-1, photos, *v.shape[1:]]) for k, v in out.items()}
