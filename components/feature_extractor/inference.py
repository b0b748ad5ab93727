"""The RunInference ModelHandler that runs a saved backbone on batches of decoded images.

Beam's TensorFlow handlers load with `keras.models.load_model`, which breaks on Keras 3
(apache/beam#30616); this one rebuilds the network from the `backbone/` dir (`load_backbone`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

logger = logging.getLogger(__name__)

METRICS_NAMESPACE = "vistflow.features"


class DecodedImage(NamedTuple):
    """An image ready for the backbone: float32 RGB [S, S, 3] in 0..255, plus its stored JPEG."""

    pixels: np.ndarray
    jpeg: bytes | None = None


class LoadedBackbone:
    """A backbone compiled for one fixed batch shape (see BackboneModelHandler)."""

    def __init__(self, backbone_dir: str, batch_size: int):
        import tensorflow as tf

        from vistflow.backbones import load_backbone

        self.model, self.spec, self.metadata = load_backbone(backbone_dir)
        size = self.spec.input_size
        self.batch_size = batch_size
        self._predict = tf.function(
            lambda images: self.model(images, training=False),
            input_signature=[tf.TensorSpec([batch_size, size, size, 3], tf.float32)],
            autograph=False,  # a Keras model: nothing to convert, and tracing is quicker
        )

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        out = self._predict(images)
        return {"global": out["global"].numpy(), "local": out["local"].numpy()}


class BackboneModelHandler(ModelHandler[DecodedImage, dict, LoadedBackbone]):
    """Runs a `save_backbone` directory on batches of DecodedImage.

    Every call runs exactly `batch_size` images, zero-padding the last partial batch: CPU conv and
    matmul kernels pick their blocking from the batch shape, so a fixed shape is what makes an
    image's features independent of which other images Beam happened to batch it with (and the
    output bytes identical run to run, runner to runner).
    """

    def __init__(self, backbone_dir: str, *, batch_size: int = 16):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._backbone_dir = backbone_dir
        self._batch_size = batch_size
        self._images = Metrics.counter(METRICS_NAMESPACE, "images_extracted")
        self._calls = Metrics.counter(METRICS_NAMESPACE, "model_calls")
        self._padded = Metrics.counter(METRICS_NAMESPACE, "padding_images")

    def load_model(self) -> LoadedBackbone:
        logger.info("loading backbone from %s", self._backbone_dir)
        return LoadedBackbone(self._backbone_dir, self._batch_size)

    def run_inference(
        self,
        batch: Sequence[DecodedImage],
        model: LoadedBackbone,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        size, bsz = model.spec.input_size, model.batch_size
        results = []
        for start in range(0, len(batch), bsz):
            chunk = batch[start : start + bsz]
            images = np.zeros((bsz, size, size, 3), np.float32)
            for i, item in enumerate(chunk):
                if item.pixels.shape != (size, size, 3):
                    raise ValueError(f"image shape {item.pixels.shape}, expected {(size, size, 3)}")
                images[i] = item.pixels
            out = model(images)
            self._calls.inc()
            self._images.inc(len(chunk))
            self._padded.inc(bsz - len(chunk))
            for i, item in enumerate(chunk):
                inference = {"global": out["global"][i], "local": out["local"][i]}
                results.append(PredictionResult(item, inference))
        return results

    def get_num_bytes(self, batch: Sequence[DecodedImage]) -> int:
        # The default pickles the whole batch just to measure it.
        return sum(item.pixels.nbytes + len(item.jpeg or b"") for item in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}
