"""Captioning with a trained model, as TF functions: the exact graph the SavedModel exports.

`Captioner` wraps a model, its vocabulary, the decoding settings and (for image inputs) the
backbone. Its methods take and return tensors and run eagerly, under `tf.function`, or inside the
exported signatures (trainer/export.py) alike, so Python callers (benchmarks, the evaluator's
tests) get the same captions as TF Serving.

Inputs: `global_features` [N, D] and `local_features` [N, h*w*c] (row-major h, w, c, as stored
in the examples) per image, or [N, P, ...] per story; `images` are encoded image bytes [N] or
[N, P]. Stories are decoded with the decoding settings' story-level repetition control
(trainer/story_decoding.py). Outputs: `captions`/`sentences` (strings), `scores` (log-probabilities) and, for
attention models, `attention` over the h*w grid for each generated token.
"""

from __future__ import annotations

import functools

import tensorflow as tf

from trainer import decoding, story_decoding
from trainer.data import GLOBAL, LOCAL
from trainer.hparams import DecodingConfig
from trainer.models.base import CaptionModel
from vistflow.vocabulary import END_ID, PAD_ID, START_ID


class Captioner:
    """Decode captions and stories from features or image bytes with one model."""

    def __init__(
        self,
        model: CaptionModel,
        words: tuple[str, ...] | list[str],
        decoding_config: DecodingConfig,
        backbone=None,
        image_size: int = 0,
    ):
        self.model = model
        self.words = tuple(words)
        self.decoding = decoding_config.validate()
        self.vocab = tf.constant(self.words, tf.string)
        # Image signatures need a CNN: the model's own when it was fine-tuned jointly.
        self.backbone = model.backbone if model.joint else backbone
        self.image_size = model.image_size if model.joint else image_size
        info = model.info
        self.attention_size = info.local_positions if model.spatial_attention else 0
        self.decode_fn = functools.partial(
            decoding.decode,
            config=self.decoding,
            vocab_size=len(self.words),
            attention_size=self.attention_size,
        )
        # The decoders are traced once and shared by every entry point (and every exported
        # signature), which keeps export fast and the SavedModel small.
        p = model.hp.photos_per_story
        self._decode_rows = tf.function(
            self._rows_impl, input_signature=[self._feature_spec([None])]
        )
        self._decode_stories = tf.function(
            self._stories_impl, input_signature=[self._feature_spec([None, p])]
        )

    def _feature_spec(self, lead: list) -> dict:
        info = self.model.info
        spec = {}
        if self.model.uses_global:
            spec[GLOBAL] = tf.TensorSpec([*lead, info.global_dim], tf.float32)
        if self.model.uses_local:
            h, w, c = info.local_shape
            spec[LOCAL] = tf.TensorSpec([*lead, h * w, c], tf.float32)
        return spec

    def _rows_impl(self, feats: dict) -> dict:
        return self.model.decode_rows(self.model.standardize(feats), self.decode_fn)

    def _stories_impl(self, feats: dict) -> dict:
        if self.decoding.story_control:
            # Sentence j must see sentences 0..j-1: one sentence of every story at a time.
            feats = self.model.standardize(feats)
            return story_decoding.decode_story(
                self.model.step,
                self.model.story_sentences(feats),
                self.decode_fn,
                tf.shape(tf.nest.flatten(feats)[0])[0],
                self.model.hp.photos_per_story,
                steps=self.decoding.max_length,
                attention_size=self.attention_size,
                history=True,
            )
        if self.model.sequence_model:
            return self.model.decode_stories(self.model.standardize(feats), self.decode_fn)
        # Per-image models: _decode_rows standardizes.
        p = self.model.hp.photos_per_story
        flat = {k: tf.reshape(v, [-1, *v.shape[2:]]) for k, v in feats.items()}
        out = self._decode_rows(flat)
        return {k: tf.reshape(v, [-1, p, *v.shape[1:]]) for k, v in out.items()}

    def _used(self, feats: dict) -> dict:
        return {k: feats[k] for k in self._feature_spec([])}

    # ---- feature inputs -------------------------------------------------------------------------
    def feature_keys(self) -> tuple[str, ...]:
        """Which of global_features / local_features the model reads."""
        keys = []
        if self.model.uses_global:
            keys.append("global_features")
        if self.model.uses_local:
            keys.append("local_features")
        return tuple(keys)

    def _features(self, global_features=None, local_features=None) -> dict:
        info = self.model.info
        given = {"global_features": global_features, "local_features": local_features}
        missing = [k for k in self.feature_keys() if given[k] is None]
        if missing:
            raise ValueError(f"{self.model.hp.model} needs {', '.join(missing)}")
        feats = {}
        if global_features is not None:
            feats[GLOBAL] = tf.cast(global_features, tf.float32)
        if local_features is not None:
            h, w, c = info.local_shape
            lead = tf.shape(local_features)[:-1]
            feats[LOCAL] = tf.reshape(
                tf.cast(local_features, tf.float32), tf.concat([lead, [h * w, c]], 0)
            )
        return feats

    def caption_features(self, global_features=None, local_features=None) -> dict:
        """One caption per image: features [N, ...] -> captions [N], scores [N] (+ attention)."""
        out = self._decode_rows(self._features(global_features, local_features))
        return self._texts(out, "captions")

    def story_features(self, global_features=None, local_features=None) -> dict:
        """P sentences per story: features [N, P, ...] -> sentences [N, P], scores [N, P]."""
        out = self._decode_stories(self._features(global_features, local_features))
        return self._texts(out, "sentences")

    # ---- image inputs ---------------------------------------------------------------------------
    def image_features(self, images) -> dict:
        """Encoded image bytes [N] -> {"global": [N, D], "local": [N, h*w, c]} via the backbone."""
        from trainer.backbone import decode_image

        size = self.image_size
        pixels = tf.map_fn(
            lambda b: decode_image(b, size),
            images,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )
        out = self.backbone(pixels, training=False)
        h, w, c = self.model.info.local_shape
        return {GLOBAL: out["global"], LOCAL: tf.reshape(out["local"], [-1, h * w, c])}

    def caption_images(self, images) -> dict:
        """Encoded images [N] -> captions [N], scores [N] (+ attention [N, T, h*w])."""
        feats = self._used(self.image_features(images))
        return self._texts(self._decode_rows(feats), "captions")

    def story_images(self, images) -> dict:
        """Encoded images [N, P] -> sentences [N, P], scores [N, P] (+ attention)."""
        p = self.model.hp.photos_per_story
        images = tf.ensure_shape(images, [None, p])
        feats = self._used(self.image_features(tf.reshape(images, [-1])))
        story = {k: tf.reshape(v, [-1, p, *v.shape[1:]]) for k, v in feats.items()}
        return self._texts(self._decode_stories(story), "sentences")

    # ---- tokens -> text -------------------------------------------------------------------------
    def tokens_to_text(self, tokens):
        """[..., T] ids -> [...] strings: the words before the first END, space-separated."""
        before_end = tf.cumsum(tf.cast(tf.equal(tokens, END_ID), tf.int32), axis=-1) == 0
        keep = before_end & (tokens != PAD_ID) & (tokens != START_ID)
        words = tf.gather(self.vocab, tokens)
        joined = tf.strings.reduce_join(tf.where(keep, words + " ", ""), axis=-1)
        return tf.strings.strip(joined)

    def _texts(self, out: dict, key: str) -> dict:
        result = {key: self.tokens_to_text(out["tokens"]), "scores": out["scores"]}
        if "attention" in out:
            result["attention"] = out["attention"]
        return result
