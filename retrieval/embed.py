"""Run a trained AlignmentModel over a whole split: region and word embeddings, scores, metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from retrieval import ranking
from retrieval.data import AlignmentSplit, encode_sentences
from retrieval.model import AlignmentModel
from retrieval.scoring import image_sentence_scores
from vistflow.vocabulary import Vocabulary


@dataclass
class EmbeddedSplit:
    """A split in the multimodal space."""

    regions: np.ndarray  # [N, R, h]
    words: np.ndarray  # [M, T, h]
    mask: np.ndarray  # [M, T] 1 = real word
    tokens: np.ndarray  # [M, T] word ids

    def scores(self) -> np.ndarray:
        """S `[N, M]` of every image with every sentence of the split."""
        return image_sentence_scores(self.regions, self.words, self.mask)


class Embedder:
    """Traced (inference-mode) encoders of one model, reused across splits."""

    def __init__(self, model: AlignmentModel, vocab: Vocabulary, batch_size: int = 256):
        self.model, self.vocab, self.batch_size = model, vocab, batch_size
        region_dim, global_dim = model.region_dim, model.global_dim
        self._regions = tf.function(
            lambda w, g: model.embed_regions(w, g, training=False),
            input_signature=[
                tf.TensorSpec([None, None, region_dim], tf.float32),
                tf.TensorSpec([None, global_dim], tf.float32),
            ],
        )
        self._words = tf.function(
            lambda t: model.embed_words(t, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        )

    def regions(self, windows: np.ndarray, global_features: np.ndarray) -> np.ndarray:
        out = [
            self._regions(
                windows[i : i + self.batch_size], global_features[i : i + self.batch_size]
            )
            for i in range(0, len(windows), self.batch_size)
        ]
        return np.concatenate([o.numpy() for o in out], axis=0)

    def words(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        words, masks = [], []
        for i in range(0, len(tokens), self.batch_size):
            s, m = self._words(tokens[i : i + self.batch_size])
            words.append(s.numpy())
            masks.append(m.numpy())
        return np.concatenate(words, axis=0), np.concatenate(masks, axis=0)

    def split(self, split: AlignmentSplit) -> EmbeddedSplit:
        tokens = encode_sentences(split.sentences, self.vocab, self.model.config.max_tokens)
        words, mask = self.words(tokens)
        return EmbeddedSplit(
            regions=self.regions(split.windows, split.global_features),
            words=words,
            mask=mask,
            tokens=tokens,
        )

    def evaluate(self, split: AlignmentSplit) -> tuple[dict, EmbeddedSplit]:
        """Retrieval metrics of both directions on `split`, and its embeddings."""
        embedded = self.split(split)
        metrics = ranking.evaluate(embedded.scores(), split.sentence_image)
        return metrics, embedded
