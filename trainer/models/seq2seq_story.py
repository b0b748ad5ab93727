"""Sequence-to-sequence storyteller (004): image-sequence encoder + previous-sentence encoder +
current-sentence decoder, generating the story sentence by sentence.

The image encoder is an LSTM over the story's projected fc7 vectors; sentence j sees its state
after photos 1..j (004's grouping: "the effect of the previous images"). The previous-sentence
encoder is an LSTM over sentence j-1 (START alone for j = 1; at inference, the sentence just
generated). The decoder LSTM starts from an MLP of both encoders' final states. With
`attention=True` (004's Luong variant) every step attends, Luong-'general' style with input
feeding, over the image encoder's outputs 1..j and the previous sentence's encoder outputs (one
memory, which is why 004 requires equal encoder sizes; both are `hidden_dim` here).
`previous_sentence=False` removes the previous-sentence encoder (the ablation of 004's claim):
the decoder then starts from the image encoder alone and attends over images only.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainer.data import GLOBAL, PHOTO_MASK, PREV_TOKENS, TOKENS_IN
from trainer.models.base import SequenceCaptionModel
from trainer.models.layers import LuongAttention, Recurrent
from trainer.story_decoding import decode_story
from vistflow.vocabulary import PAD_ID, START_ID


class Seq2SeqStory(SequenceCaptionModel):
    extra_inputs = frozenset({PREV_TOKENS})

    def __init__(self, hparams, vocab_size, info, backbone=None, **kwargs):
        if not hparams.previous_sentence:
            self.extra_inputs = frozenset()  # before Model.__init__'s attribute tracking
        super().__init__(hparams, vocab_size, info, backbone, **kwargs)
        hp = hparams
        h = hp.hidden_dim
        self.image_projection = keras.layers.Dense(
            hp.embedding_dim, activation="relu", name="image_projection"
        )
        self.image_dropout = keras.layers.Dropout(hp.dropout, name="image_dropout")
        self.image_encoder = keras.layers.LSTM(
            h, return_sequences=True, return_state=True, name="image_encoder"
        )
        self.embedding = keras.layers.Embedding(vocab_size, hp.embedding_dim, name="embedding")
        self.word_dropout = keras.layers.Dropout(hp.dropout, name="word_dropout")
        if hp.previous_sentence:
            self.sentence_encoder = keras.layers.LSTM(
                h, return_sequences=True, return_state=True, name="sentence_encoder"
            )
        self.init_h = keras.layers.Dense(h, activation="tanh", name="init_h")
        self.init_c = keras.layers.Dense(h, activation="tanh", name="init_c")
        self.cell = Recurrent("lstm", h, name="decoder")
        if hp.attention:
            self.attention = LuongAttention(h, name="attention")
        self.output_dropout = keras.layers.Dropout(hp.dropout, name="output_dropout")
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    # ---- encoders -------------------------------------------------------------------------------
    def encode_images(self, feats, photo_mask, training=False):
        """Image encoder outputs [B, P, H] (masked photos carry the last real state)."""
        x = self.image_dropout(self.image_projection(feats[GLOBAL]), training=training)
        outputs, _, _ = self.image_encoder(x, mask=photo_mask > 0, training=training)
        return outputs

    def encode_sentence(self, image_outputs, photo_mask, index, prev_tokens, training=False):
        """Context and initial state of the rows generating sentence `index` ([R] int32).

        image_outputs/photo_mask: [R, P, H] / [R, P] of each row's story; prev_tokens [R, T'].
        """
        p = self.hp.photos_per_story
        image_h = tf.gather(image_outputs, index, batch_dims=1)  # state after photos 1..j
        seen = tf.cast(tf.range(p)[None, :] <= index[:, None], tf.float32) * photo_mask
        memory, mask, both = image_outputs, seen, image_h
        if self.hp.previous_sentence:
            token_mask = prev_tokens != PAD_ID
            words = self.word_dropout(self.embedding(prev_tokens), training=training)
            sent_out, sent_h, _ = self.sentence_encoder(words, mask=token_mask, training=training)
            both = tf.concat([image_h, sent_h], axis=-1)
            memory = tf.concat([image_outputs, sent_out], axis=1)
            mask = tf.concat([seen, tf.cast(token_mask, tf.float32)], axis=1)
        state = self.cell.initial_state(self.init_h(both), self.init_c(both))
        context = {}
        if self.hp.attention:
            context = {"memory": memory, "keys": self.attention.keys(memory), "mask": mask}
            state["feed"] = tf.zeros_like(state["h"])  # input feeding: last attentional vector
        return context, state

    # ---- decoder --------------------------------------------------------------------------------
    def step(self, tokens, context, state, training=False):
        x = self.word_dropout(self.embedding(tokens), training=training)
        if not self.hp.attention:
            h, state = self.cell(x, state, training=training)
            return self.logits(self.output_dropout(h, training=training)), state, None
        h, new = self.cell(tf.concat([x, state["feed"]], axis=-1), state, training=training)
        att, _ = self.attention(context["keys"], context["memory"], context["mask"], h)
        new["feed"] = att
        return self.logits(self.output_dropout(att, training=training)), new, None

    # ---- training: all P sentences of a story in one batch, reference previous sentences --------
    def call(self, inputs, training=False):
        p = self.hp.photos_per_story
        feats = self.features(inputs)
        mask = inputs[PHOTO_MASK]
        image_outputs = self.encode_images(feats, mask, training)
        rows_images = tf.repeat(image_outputs, p, axis=0)  # [B * P, P, H]
        rows_mask = tf.repeat(mask, p, axis=0)
        index = tf.tile(tf.range(p), [tf.shape(mask)[0]])
        prev = None
        if self.hp.previous_sentence:
            prev = inputs[PREV_TOKENS]
            prev = tf.reshape(prev, [-1, prev.shape[-1]])
        context, state = self.encode_sentence(rows_images, rows_mask, index, prev, training)
        tokens_in = inputs[TOKENS_IN]
        t = tokens_in.shape[-1]
        logits, _ = self.teacher_force(tf.reshape(tokens_in, [-1, t]), context, state, training)
        return tf.reshape(logits, [-1, p, t, self.vocab_size])

    # ---- story decoding: sentence j is conditioned on generated sentence j-1 --------------------
    def story_sentences(self, feats):
        rows = tf.shape(feats[GLOBAL])[0]
        mask = tf.ones([rows, self.hp.photos_per_story])
        image_outputs = self.encode_images(feats, mask)

        def sentence(j, prev_tokens):
            return self.encode_sentence(image_outputs, mask, tf.fill([rows], j), prev_tokens)

        return sentence

    def decode_stories(self, feats, decode_fn, first_only=False):
        sentence = self.story_sentences(feats)
        rows = tf.shape(feats[GLOBAL])[0]
        if first_only:
            context, state = sentence(0, tf.fill([rows, 1], START_ID))
            return {k: v[:, None] for k, v in decode_fn(self.step, context, state).items()}
        # A while_loop over sentences (not a Python loop) traces the decoder once, not P times.
        return decode_story(self.step, sentence, decode_fn, rows, self.hp.photos_per_story)
