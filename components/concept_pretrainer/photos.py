"""The photos of an ingested Examples split, each once, with every caption that mentions it.

A photo appears in several stories (and in DII and SIS examples alike): its concepts are the
union of all its captions, and it is decoded once. Pixels are decoded with the one shared
decoder (`vistflow.images`, as the FeatureExtractor does) into a uint8 memory-mapped array on
local disk, so epochs after the first read no image file and memory stays flat on big splits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from vistflow import example_files, images
from vistflow import example_format as ef
from vistflow.errors import VistflowError

log = logging.getLogger(__name__)
_LOG_EVERY = 1000


@dataclass
class Photos:
    """One split's unique photos: URIs, ids and caption texts, in first-seen order."""

    uris: list[str] = field(default_factory=list)
    photo_ids: list[str] = field(default_factory=list)
    texts: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.uris)


def read_photos(pattern: str) -> Photos:
    """The unique photos of the SequenceExample TFRecords matching `pattern` (gzipped shards)."""
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise VistflowError(f"{pattern}: no example files")
    photos, where = Photos(), {}
    for serialized in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        example = tf.train.SequenceExample.FromString(serialized)
        lists = example.feature_lists.feature_list
        uris, ids, texts = lists[ef.IMAGE_URI].feature, lists[ef.PHOTO_ID].feature, lists[ef.TEXT]
        for i, uri_feature in enumerate(uris):
            uri = uri_feature.bytes_list.value[0].decode()
            if uri not in where:
                where[uri] = len(photos.uris)
                photos.uris.append(uri)
                photos.photo_ids.append(ids[i].bytes_list.value[0].decode())
                photos.texts.append([])
            if i < len(texts.feature):
                photos.texts[where[uri]].extend(
                    t.decode() for t in texts.feature[i].bytes_list.value
                )
    return photos


def decode_to_memmap(uris: list[str], size: int, path: str) -> tuple[np.ndarray, dict[str, str]]:
    """Decode `uris` to a uint8 `[N, size, size, 3]` memmap at `path`.

    Returns (pixels, failed) where `failed` maps each URI that could not be read or decoded to
    its reason; its row stays zero and callers must leave it out (never train on a blank).
    Ingest checked every image, so a failure here means the file changed since.
    """
    import tensorflow as tf

    decode = tf.function(
        lambda data: images.decode_image(data, size),
        input_signature=[tf.TensorSpec([], tf.string)],
        autograph=False,  # plain tf ops; converting the decoder's source costs ~0.8 s
    )
    limits = images.ImageLimits()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint8, shape=(len(uris), size, size, 3)
    )
    failed: dict[str, str] = {}
    for i, uri in enumerate(uris):
        try:
            with tf.io.gfile.GFile(uri, "rb") as f:
                data = images.read_bounded(f, limits.max_bytes)
            ready = images.graph_ready_bytes(data, limits)
            pixels[i] = np.clip(np.round(decode(ready).numpy()), 0, 255).astype(np.uint8)
        except (images.ImageError, images.FileTooLarge) as e:
            failed[uri] = f"cannot decode: {e}"
        except (OSError, tf.errors.OpError) as e:
            failed[uri] = f"cannot read: {type(e).__name__}: {e}"
        if (i + 1) % _LOG_EVERY == 0:
            log.info("concept pretraining: decoded %d/%d photos", i + 1, len(uris))
    pixels.flush()
    if failed:
        log.warning(
            "concept pretraining: %d photos could not be decoded and are left out: %s",
            len(failed),
            dict(list(failed.items())[:5]),
        )
    return pixels, failed


def split_patterns(examples_uri: str, splits: Mapping[str, str] | None = None) -> dict[str, str]:
    """`{split: shard pattern}` of an Examples artifact directory (every `Split-*` folder)."""
    found = example_files.split_patterns(examples_uri)
    return {s: p for s, p in found.items() if splits is None or s in splits}
