"""What every model shares: the decoding interface, teacher forcing and joint CNN features.

Every model exposes, over a batch of rows (one row = one sentence being generated):

    context, state = model.encode(features)                    # once per row
    logits, state, attention = model.step(tokens, context, state)  # once per word

`context` holds per-row tensors that stay fixed while decoding (projected image regions, encoder
memories); `state` holds what changes (hidden and cell states). Both are flat dicts of tensors
with the row dimension first, so ONE decoder (trainer/decoding.py) serves every model: it tiles
them for beams and reorders `state` when beams are pruned. Training runs the same `step` under
teacher forcing, so training and decoding cannot drift apart.

Story decoding (`decode_stories`) is model-specific only in how rows are formed: per-image models
caption the P photos as P independent rows, global_context decodes its P parallel LSTMs as P rows
at once, seq2seq_story decodes sentence by sentence. `story_sentences(feats)` gives the rows of
sentence j of every story, for decoding a story one sentence after another
(trainer/story_decoding.py: seq2seq_story always, every model under a story-level repetition
control).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from trainer.data import GLOBAL, IMAGE, LOCAL, PHOTO_MASK, TOKENS_IN, FeatureInfo

# decode_fn(step_fn, context, state) -> {"tokens": [N, T], "scores": [N], "attention"?: [N, T, L]}
DecodeFn = Callable[..., dict]


class CaptionModel(keras.Model):
    """Base class. Subclasses set the class attributes and implement encode/step."""

    sequence_model = False  # True: rows are whole stories of `photos_per_story` photos
    uses_global = True
    uses_local = False
    spatial_attention = False  # step() returns attention weights over the local grid
    default_rnn_cell = "lstm"
    rnn_cells: tuple[str, ...] = ("lstm",)
    default_optimizer = "adam"
    extra_inputs: frozenset[str] = frozenset()

    def __init__(self, hparams, vocab_size: int, info: FeatureInfo, backbone=None, **kwargs):
        super().__init__(name=hparams.model, **kwargs)
        self.hp = hparams
        self.vocab_size = vocab_size
        self.info = info
        self.joint = backbone is not None
        if backbone is not None:
            self.backbone = backbone
            self.backbone.trainable = True
        self.standardizer = None
        if hparams.standardize_features:
            from trainer.models.layers import FeatureStandardizer

            local = info.local_shape[2] if (self.uses_local or self.joint) else 0
            self.standardizer = FeatureStandardizer(info.global_dim, local, name="standardizer")
            self.standardizer.build()

    # ---- inputs ---------------------------------------------------------------------------
    def feature_inputs(self) -> frozenset[str]:
        """Model inputs other than tokens that the data pipeline must produce."""
        if self.joint:
            base = {IMAGE}
        else:
            base = {GLOBAL} if self.uses_global else set()
            if self.uses_local:
                base.add(LOCAL)
        return frozenset(base) | self.extra_inputs

    def features(self, inputs: dict) -> dict:
        """Standardized {"global": [..., D], "local": [..., h*w, c]}: what encode() consumes."""
        return self.standardize(self.raw_features(inputs))

    def standardize(self, feats: dict) -> dict:
        """Backbone features -> model inputs; every decoding entry point calls this first."""
        return self.standardizer(feats) if self.standardizer is not None else feats

    def raw_features(self, inputs: dict) -> dict:
        """{"global": [..., D], "local": [..., h*w, c]} from features or, if joint, from pixels."""
        if not self.joint:
            return {k: inputs[k] for k in (GLOBAL, LOCAL) if k in inputs}
        images = inputs[IMAGE]
        lead = ops.shape(images)[:-3]
        flat = ops.reshape(images, (-1, *images.shape[-3:]))
        # Always inference mode, also while fine-tuning (Keras's rule for BatchNormalization):
        # the CNN's weights still learn, but batches of a few caption photos never overwrite the
        # batch-norm statistics it was pretrained with, and it trains on the features it serves.
        out = self.backbone(flat, training=False)
        h, w, c = self.info.local_shape
        return {
            GLOBAL: ops.reshape(out["global"], (*lead, self.info.global_dim)),
            LOCAL: ops.reshape(out["local"], (*lead, h * w, c)),
        }

    def dummy_inputs(self, rows: int = 1) -> dict:
        """A minimal batch to build every variable before export or weight loading."""
        lead = (rows, self.hp.photos_per_story) if self.sequence_model else (rows,)
        t = self.hp.max_tokens + 1
        inputs: dict = {TOKENS_IN: ops.ones((*lead, t), "int32")}
        if self.joint:
            s = self.image_size
            inputs[IMAGE] = ops.zeros((*lead, s, s, 3))
        else:
            if self.uses_global:
                inputs[GLOBAL] = ops.zeros((*lead, self.info.global_dim))
            if self.uses_local:
                h, w, c = self.info.local_shape
                inputs[LOCAL] = ops.zeros((*lead, h * w, c))
        if self.sequence_model:
            inputs[PHOTO_MASK] = ops.ones(lead)
        for key in self.extra_inputs:
            inputs[key] = ops.ones((*lead, t), "int32")
        return inputs

    @property
    def image_size(self) -> int:
        return int(self.backbone.inputs[0].shape[1]) if self.joint else 0

    def build_variables(self) -> None:
        self(self.dummy_inputs(), training=False)

    # ---- decoding interface (rows) --------------------------------------------------------------
    def encode(self, feats: dict, training=False) -> tuple[dict, dict]:
        raise NotImplementedError

    def step(self, tokens, context: dict, state: dict, training=False):
        raise NotImplementedError

    # ---- training -----------------------------------------------------------------------------
    def teacher_force(self, tokens_in, context: dict, state: dict, training=False):
        """Logits [R, T, V] for every position, fed the reference words; and attention [R, T, L].

        A tf.while_loop over time, not a Python loop: the step is traced once (not T times),
        which keeps graph building and gradient construction fast. (Eagerly, e.g. when the model
        is first built, the loop runs in Python and creates the variables.)
        """
        import tensorflow as tf

        steps = tokens_in.shape[1]
        by_time = tf.transpose(tokens_in)  # [T, R]
        logits_ta = tf.TensorArray(tf.float32, size=steps)
        att_ta = tf.TensorArray(tf.float32, size=steps)

        def body(t, state, logits_ta, att_ta):
            logits, state, att = self.step(by_time[t], context, state, training)
            logits_ta = logits_ta.write(t, logits)
            if att is not None:
                att_ta = att_ta.write(t, att)
            return t + 1, state, logits_ta, att_ta

        _, _, logits_ta, att_ta = tf.while_loop(
            lambda t, *_: t < steps, body, (tf.constant(0), state, logits_ta, att_ta)
        )
        logits = tf.transpose(logits_ta.stack(), [1, 0, 2])
        attention = tf.transpose(att_ta.stack(), [1, 0, 2]) if self.spatial_attention else None
        return logits, attention

    def call(self, inputs: dict, training=False):
        feats = self.features(inputs)
        context, state = self.encode(feats, training)
        logits, attention = self.teacher_force(inputs[TOKENS_IN], context, state, training)
        self.regularize(inputs[TOKENS_IN], attention)
        return logits

    def regularize(self, tokens_in, attention) -> None:
        """Hook for auxiliary losses on attention (show_attend_tell)."""

    # ---- decoding drivers -----------------------------------------------------------------------
    def decode_rows(self, feats: dict, decode_fn: DecodeFn) -> dict:
        """Caption one image per row: feats [N, ...] -> tokens [N, T], scores [N] (+ attention)."""
        context, state = self.encode(feats)
        return decode_fn(self.step, context, state)

    def decode_stories(self, feats: dict, decode_fn: DecodeFn) -> dict:
        """Decode P sentences per story: feats [N, P, ...] -> tokens [N, P, T], scores [N, P]."""
        p = self.hp.photos_per_story
        flat = {k: ops.reshape(v, (-1, *v.shape[2:])) for k, v in feats.items()}
        out = self.decode_rows(flat, decode_fn)
        return {k: ops.reshape(v, (-1, p, *v.shape[1:])) for k, v in out.items()}

    def story_sentences(self, feats: dict) -> Callable:
        """feats [N, P, ...] -> sentence(j, prev_tokens) -> (context, state) of photo j's rows."""
        import tensorflow as tf

        def sentence(j, prev_tokens):
            return self.encode({k: tf.gather(v, j, axis=1) for k, v in feats.items()})

        return sentence


def tile_rows(x, times: int):
    """[B, ...] -> [B * times, ...], each row repeated `times` times consecutively."""
    return ops.repeat(x, times, axis=0)


class SequenceCaptionModel(CaptionModel):
    """Models whose row is a whole story: inputs [B, P, ...], logits [B, P, T, V]."""

    sequence_model = True

    def decode_rows(self, feats: dict, decode_fn: DecodeFn) -> dict:
        """serving_default rule: a single image is the story of that image repeated P times;
        its caption is the story's first sentence."""
        p = self.hp.photos_per_story
        story = {k: ops.repeat(v[:, None], p, axis=1) for k, v in feats.items()}
        out = self.decode_stories(story, decode_fn, first_only=True)
        return {k: v[:, 0] for k, v in out.items()}

    def decode_stories(self, feats: dict, decode_fn: DecodeFn, first_only: bool = False) -> dict:
        raise NotImplementedError
