"""The CNN the exported image signatures (and joint fine-tuning) run: the extractor's own network.

The feature extractor saves the exact backbone it used under `<features artifact>/backbone/`
(the shared `vistflow.backbones`); the trainer rebuilds it with `load_backbone`, so
images sent to the exported model are decoded, resized and encoded exactly as at extraction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from vistflow import example_files

logger = logging.getLogger(__name__)

BACKBONE_SUBDIR = "backbone"
NO_BACKBONE = "none"  # custom_config backbone_dir value: export feature signatures only


def _contract():
    from vistflow import backbones

    return backbones


def decode_image(image_bytes, size: int):
    """The extractor's image decoding (pure TF ops): bytes -> float32 RGB [size, size, 3].

    `vistflow.images.decode_image`, which the extractor's `backbones.decode_image` also is: EXIF
    orientation and 16-bit scaling happen inside the exported graph, as at extraction.
    """
    from vistflow import images

    return images.decode_image(image_bytes, size)


def find_backbone_dir(patterns: str | Sequence[str]) -> str | None:
    """`<artifact>/backbone` for files laid out as `<artifact>/Split-<split>/data_tfrecord-*.gz`."""
    import tensorflow as tf

    if isinstance(patterns, str):
        patterns = [patterns]
    split_prefix = example_files.SPLIT_PREFIX
    for pattern in patterns:
        parent = os.path.dirname(pattern.rstrip("/"))
        if not os.path.basename(parent).startswith(split_prefix):
            parent = pattern.rstrip("/")  # the pattern may be the Split dir itself
        artifact = os.path.dirname(parent)
        candidate = os.path.join(artifact, BACKBONE_SUBDIR)
        if tf.io.gfile.exists(os.path.join(candidate, "backbone.json")):
            return candidate
    return None


def load(backbone_dir: str):
    """(keras.Model, BackboneSpec, metadata) saved by the extractor in `backbone_dir`."""
    return _contract().load_backbone(backbone_dir)


def build(name: str, *, weights: str = "random", seed: int = 0):
    """A fresh backbone by name (joint fine-tuning without an extractor artifact, tests)."""
    contract = _contract()
    return contract.build_backbone(name, weights=weights, seed=seed), contract.get_spec(name)
