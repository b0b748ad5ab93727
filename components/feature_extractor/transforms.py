"""The feature-extraction Beam transforms: read examples, decode each unique image once, run the
backbone (RunInference), fan features out to every story that shows the image, write sharded
TFRecords.

`FeatureExtraction` composes them; `pipeline.extract_features` launches it and commits the output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import uuid
from collections.abc import Mapping

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference

from vistflow import backbones, image_limits, images, outputs
from vistflow import example_format as ef

from . import feature_examples as fe
from . import shard_writer
from .inference import METRICS_NAMESPACE, BackboneModelHandler, DecodedImage
from .options import ExtractionConfig

logger = logging.getLogger(__name__)

FAILURES_FILE = "failures.jsonl"
BACKBONE_DIR = "backbone"  # the exact network used, saved beside the features
STATS_FILE = "_stats.json"
WRITING_DIR = "_writing"
SHARD_NAME = "data_tfrecord-{shard:05d}-of-{num_shards:05d}.gz"


def _failure(kind: str, reason: str, *, split: str = "", id: str = "", uri: str = "") -> dict:
    return {"kind": kind, "split": split, "id": id, "uri": uri, "reason": reason}


class ReadExamples(beam.PTransform):
    """Reads every split's TFRecords into (split, serialized SequenceExample)."""

    def __init__(self, patterns: Mapping[str, str]):
        super().__init__()
        self._patterns = dict(sorted(patterns.items()))

    def expand(self, pbegin):
        per_split = [
            pbegin
            | f"Read {split}" >> beam.io.ReadFromTFRecord(pattern)
            | f"Tag {split}" >> beam.Map(lambda record, s=split: (s, record))
            for split, pattern in self._patterns.items()
        ]
        return per_split | "Flatten splits" >> beam.Flatten()


class _KeyExampleFn(beam.DoFn):
    INVALID = "invalid"
    REFS = "refs"

    def __init__(self):
        self._invalid = Metrics.counter(METRICS_NAMESPACE, "examples_invalid")

    def process(self, element: tuple[str, bytes]):
        split, serialized = element
        # Content-addressed key: unique per distinct record, identical across runs and workers.
        key = (split, hashlib.sha256(serialized).hexdigest())
        example_id = ""
        try:
            example = fe.parse(serialized)
            example_id = fe.context_str(example, ef.ID)
            uris = fe.image_uris(example)
        except fe.ExampleFormatError as e:
            self._invalid.inc()
            yield pvalue.TaggedOutput(
                self.INVALID, _failure("example", str(e), split=split, id=example_id)
            )
            return
        yield key, serialized
        for position, uri in enumerate(uris):
            yield pvalue.TaggedOutput(self.REFS, (uri, (key, position)))


class KeyExamples(beam.PTransform):
    """(split, serialized) → main (key, serialized), `refs` (uri, (key, position)), `invalid`."""

    def expand(self, examples):
        return examples | "Key examples" >> beam.ParDo(_KeyExampleFn()).with_outputs(
            _KeyExampleFn.INVALID, _KeyExampleFn.REFS, main="examples"
        )


class _DecodeImageFn(beam.DoFn):
    FAILED = "failed"
    CONVERTED = "converted"
    _LOG_EVERY = 1000

    def __init__(self, size: int, store_images: bool, jpeg_quality: int):
        self._size, self._store, self._quality = size, store_images, jpeg_quality
        self._decoded = Metrics.counter(METRICS_NAMESPACE, "images_decoded")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "images_failed")
        self._converted = Metrics.counter(METRICS_NAMESPACE, "images_converted_via_pil")
        self._bytes = Metrics.counter(METRICS_NAMESPACE, "image_bytes_read")

    def setup(self):
        import tensorflow as tf

        size, quality = self._size, self._quality
        self._errors = (tf.errors.InvalidArgumentError,)
        # Ingest already applied the pipeline's limits; these defaults only stop a bomb that
        # reached the examples some other way.
        self._limits = images.ImageLimits()
        # autograph=False: the decoder is written in tf ops (no Python control flow on tensors);
        # converting its source cost ~0.8 s of every worker's start-up.
        self._decode = tf.function(
            lambda data: backbones.decode_image(data, size),
            input_signature=[tf.TensorSpec([], tf.string)],
            autograph=False,
        )
        self._encode = tf.function(
            lambda pixels: tf.io.encode_jpeg(
                tf.cast(tf.round(tf.clip_by_value(pixels, 0.0, 255.0)), tf.uint8),
                quality=quality,
            ),
            input_signature=[tf.TensorSpec([size, size, 3], tf.float32)],
        )
        self._count = 0

    def process(self, element):
        uri = _uri_of(element)
        try:
            data = image_limits.read_file(uri, self._limits.max_bytes)
        except images.FileTooLarge as e:  # ingest checked it; it grew or was replaced since
            self._failed.inc()
            yield pvalue.TaggedOutput(self.FAILED, (element, f"too_large: {e}"))
            return
        except Exception as e:  # any filesystem's not-found / permission / IO error
            self._failed.inc()
            yield pvalue.TaggedOutput(self.FAILED, (element, f"cannot read: {_reason(e)}"))
            return
        self._bytes.inc(len(data))
        # The shared decoder: bytes the graph reads exactly as PIL does pass through, anything
        # else (WebP, TIFF, CMYK, GIF, BMP, PNG with an EXIF orientation) becomes a PNG of PIL's
        # oriented RGB pixels, so these features match what the server computes for the file.
        try:
            ready = images.graph_ready_bytes(data, self._limits)
            pixels = self._decode(ready)
        except images.ImageError as e:
            self._failed.inc()
            yield pvalue.TaggedOutput(
                self.FAILED, (element, f"cannot decode: {e.reason}: {_reason(e)}")
            )
            return
        except self._errors as e:
            self._failed.inc()
            yield pvalue.TaggedOutput(self.FAILED, (element, f"cannot decode: {_reason(e)}"))
            return
        if ready is not data:
            self._converted.inc()
            yield pvalue.TaggedOutput(self.CONVERTED, uri)
        jpeg = self._encode(pixels).numpy() if self._store else None
        self._decoded.inc()
        self._count += 1
        if self._count % self._LOG_EVERY == 0:
            logger.info("decoded %d images in this worker", self._count)
        yield element, DecodedImage(pixels.numpy(), jpeg)


def _uri_of(element) -> str:
    """The image URI of a decode input: a URI, or (URI, what travels with it)."""
    return element if isinstance(element, str) else element[0]


def _reason(error: Exception) -> str:
    """The human part of a TF/PIL error, without graph node names or object addresses.

    failures.jsonl must be byte-identical across reruns, so nothing run-specific may leak in.
    """
    text = (str(error).strip() or type(error).__name__).splitlines()[0]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "<data>", text)
    return re.sub(r"\s*\[Op:[^\]]*\]", "", text).strip()


class DecodeImages(beam.PTransform):
    """uri → main (uri, DecodedImage), `failed` (uri, reason), `converted` uri (went through PIL).

    An input may also be (uri, anything): it is then the key of both outputs, so what the caller
    attaches (the stories that show the image) travels with the pixels and the features.
    """

    def __init__(self, size: int, *, store_images: bool = False, jpeg_quality: int = 90):
        super().__init__()
        self._fn = _DecodeImageFn(size, store_images, jpeg_quality)

    def expand(self, uris):
        return uris | "Decode" >> beam.ParDo(self._fn).with_outputs(
            _DecodeImageFn.FAILED, _DecodeImageFn.CONVERTED, main="images"
        )


class _ToStorageDtypeFn(beam.DoFn):
    """(uri, PredictionResult) → (uri, ImageFeatures) in the storage dtype, never silently lossy."""

    def __init__(self, dtype: str):
        self._dtype = dtype
        self._underflow = Metrics.counter(METRICS_NAMESPACE, "float16_underflow_values")

    def process(self, item: tuple[object, PredictionResult]):
        key, result = item
        uri = _uri_of(key)
        arrays = [result.inference["global"], result.inference["local"]]
        if self._dtype == "float16":
            half = [a.astype(np.float16) for a in arrays]
            if not all(np.isfinite(h).all() for h in half):
                # Overflow would store inf: refuse rather than write corrupt features.
                raise ValueError(
                    f"{uri}: features exceed the float16 range (|x| > 65504); use float32"
                )
            # Values below float16's smallest subnormal (6e-8) become 0: count, don't hide.
            lost = sum(int(((h == 0) & (a != 0)).sum()) for a, h in zip(arrays, half, strict=True))
            self._underflow.inc(lost)
            arrays = half
        yield key, fe.ImageFeatures(arrays[0], arrays[1], result.example.jpeg)


class ExtractFeatures(beam.PTransform):
    """(key, DecodedImage) → (key, ImageFeatures in the storage dtype), via RunInference.

    The key is DecodeImages' (a uri, or (uri, what travels with it)).
    """

    def __init__(self, backbone_dir: str, *, batch_size: int = 16, dtype: str = "float32"):
        super().__init__()
        self._handler = KeyedModelHandler(BackboneModelHandler(backbone_dir, batch_size=batch_size))
        self._dtype = dtype

    def expand(self, images):
        return (
            images
            | "RunInference" >> RunInference(self._handler)
            | "To storage dtype" >> beam.ParDo(_ToStorageDtypeFn(self._dtype))
        )


def _fan_out(element):
    """((uri, refs), features | reason) → (example key, (position, uri, features | reason)).

    The refs came with the image through decoding and inference, so the features reach their
    stories without another shuffle keyed by uri.
    """
    (uri, refs), value = element
    for key, position in refs:
        yield key, (position, uri, value)


def _num_shards(total_bytes: int, num_shards: int, shard_mb: int) -> int:
    return num_shards or max(1, math.ceil(total_bytes / (shard_mb * 2**20)))


def _shard_of(key: tuple[str, str], num_shards: int) -> int:
    """Shard of an example from its content-addressed key (split, sha256 hex of the input)."""
    return int(key[1][:16], 16) % num_shards


def _write_shard(out_dir: str, split: str, shard: int, num_shards: int, records, level: int) -> int:
    """Writes `records` (serialized, already sorted) as one gzipped shard; returns its size."""
    name = SHARD_NAME.format(shard=shard, num_shards=num_shards)
    final = os.path.join(out_dir, ef.SPLIT_DIR.format(split=split), name)
    data = shard_writer.gzip_tfrecords(records, level)
    # Staged under _writing/ (removed by the launcher), not beside the shard: a retried or
    # speculative bundle's leftover never sits in a split directory that readers glob.
    scratch = os.path.join(out_dir, WRITING_DIR, f"{split}-{name}-{uuid.uuid4().hex}")
    outputs.write_file_atomic(final, data, staging=scratch)
    return len(data)


class _AssembleShardFn(beam.DoFn):
    """One shard's examples + their photos' features → the shard file, dropped examples, stats."""

    DROPPED = "dropped"

    def __init__(self, spec: backbones.BackboneSpec, dtype: str, out_dir: str, level: int):
        self._spec, self._dtype, self._out_dir, self._level = spec, dtype, out_dir, level
        self._written = Metrics.counter(METRICS_NAMESPACE, "examples_written")
        self._dropped = Metrics.counter(METRICS_NAMESPACE, "examples_dropped")
        self._bytes = Metrics.counter(METRICS_NAMESPACE, "feature_bytes_written")

    def process(self, element):
        (split, shard, num_shards), grouped = element
        photos: dict = {}
        for key, (position, uri, value) in grouped["photos"]:
            photos.setdefault(key, {})[position] = (uri, value)
        records = []
        for key, serialized in grouped["examples"]:
            example_id = fe.context_str(fe.parse(serialized), ef.ID)
            mine = photos.get(key, {})
            failed = [(uri, v) for uri, v in mine.values() if isinstance(v, str)]
            if failed:
                self._dropped.inc()
                reason = "; ".join(f"image {uri} failed: {why}" for uri, why in sorted(failed))
                yield pvalue.TaggedOutput(
                    self.DROPPED, _failure("example", reason, split=split, id=example_id)
                )
                continue
            ordered = [mine[i][1] for i in range(len(mine))]
            records.append(
                (example_id, fe.add_features(serialized, ordered, self._spec, self._dtype))
            )
        if not records:  # every example dropped: the launcher fills the gap with an empty shard
            return
        records.sort()  # by id, then bytes: the order never depends on the runner
        size = _write_shard(
            self._out_dir, split, shard, num_shards, [r for _, r in records], self._level
        )
        self._written.inc(len(records))
        self._bytes.inc(size)
        logger.info(
            "wrote %s shard %d/%d (%d examples, %d bytes)",
            split,
            shard,
            num_shards,
            len(records),
            size,
        )
        yield f"examples_written/{split}", len(records)
        yield f"bytes/{split}", sum(len(r) for _, r in records)


def _feature_bytes_per_photo(spec: backbones.BackboneSpec, dtype: str) -> int:
    """Serialized feature bytes one photo adds to its example (values only)."""
    return (spec.global_dim + spec.local_dim) * (2 if dtype == "float16" else 4)


class AssembleShards(beam.PTransform):
    """Joins image features back to their examples and writes each split's sorted, gzipped shards.

    Input: dict(examples=(key, serialized), refs=(uri, (key, position)), photos=(key,
    (position, uri, ImageFeatures | failure reason))). Every example is routed to its shard by its key
    (`_shard_of`) before the join, so one shuffle brings a shard's examples and photos together
    and the DoFn that assembles them writes the file: the assembled examples (the job's largest
    data: features x the photos' reuse) never cross a shuffle. A split's shard count is fixed, or
    one per `shard_mb` of the examples' estimated size (input bytes + feature bytes per photo).

    Output: main ("examples_written/<split>" | "bytes/<split>" | "shards/<split>", n) stats,
    `dropped` failure records for examples with an image that failed.
    """

    def __init__(
        self,
        spec: backbones.BackboneSpec,
        dtype: str,
        out_dir: str,
        *,
        num_shards: int,
        shard_mb: int,
        compression_level: int,
    ):
        super().__init__()
        self._spec, self._dtype, self._out_dir = spec, dtype, out_dir
        self._num_shards, self._shard_mb, self._level = num_shards, shard_mb, compression_level

    def expand(self, inputs):
        photo_bytes = _feature_bytes_per_photo(self._spec, self._dtype)
        fixed, shard_mb = self._num_shards, self._shard_mb
        sizes = (
            inputs["examples"] | "Example size" >> beam.Map(lambda kv: (kv[0][0], len(kv[1]))),
            inputs["refs"] | "Photo size" >> beam.Map(lambda ref: (ref[1][0][0], photo_bytes)),
        ) | "Sizes" >> beam.Flatten()
        shard_counts = (
            sizes
            | "Bytes per split" >> beam.CombinePerKey(sum)
            | "Shards per split"
            >> beam.MapTuple(lambda split, size: (split, _num_shards(size, fixed, shard_mb)))
        )

        def route(item, counts):
            key = item[0]
            n = counts[key[0]]
            return (key[0], _shard_of(key, n), n), item

        counts = pvalue.AsDict(shard_counts)
        assembled = (
            {
                "examples": inputs["examples"] | "Route examples" >> beam.Map(route, counts=counts),
                "photos": inputs["photos"] | "Route photos" >> beam.Map(route, counts=counts),
            }
            | "Group by shard" >> beam.CoGroupByKey()
            | "Assemble and write"
            >> beam.ParDo(
                _AssembleShardFn(self._spec, self._dtype, self._out_dir, self._level)
            ).with_outputs(_AssembleShardFn.DROPPED, main="stats")
        )
        shard_stats = shard_counts | "Shards stat" >> beam.MapTuple(lambda s, n: (f"shards/{s}", n))
        stats = (assembled.stats, shard_stats) | "Flatten shard stats" >> beam.Flatten()
        return {"stats": stats, "dropped": assembled.dropped}


def _write_json_lines(records: list[dict], path: str) -> None:
    import tensorflow as tf

    lines = sorted(json.dumps(r, sort_keys=True) for r in records)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))


def _write_stats(stats: dict, path: str) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(dict(sorted(stats.items())), f)


def _count(pcoll, label: str, name_fn):
    return pcoll | label >> beam.Map(lambda e: (name_fn(e), 1))


class FeatureExtraction(beam.PTransform):
    """The whole job from input patterns to files in `out_dir` (see the module docstring)."""

    def __init__(self, patterns: Mapping[str, str], out_dir: str, config: ExtractionConfig):
        super().__init__()
        self._patterns, self._out_dir, self._config = patterns, out_dir, config

    def expand(self, pbegin):
        cfg, out = self._config, self._out_dir
        spec = backbones.get_spec(cfg.backbone)
        raw = pbegin | "Read examples" >> ReadExamples(self._patterns)
        keyed = raw | "Key" >> KeyExamples()
        # Each unique image once, with the (example key, position) of every story that shows it.
        uris = (
            keyed.refs
            | "Refs by uri" >> beam.GroupByKey()
            | "Sorted refs" >> beam.MapTuple(lambda uri, refs: (uri, tuple(sorted(refs))))
        )
        decoded = uris | "Decode images" >> DecodeImages(
            spec.input_size, store_images=cfg.store_images, jpeg_quality=cfg.jpeg_quality
        )
        features = decoded.images | "Extract features" >> ExtractFeatures(
            os.path.join(out, BACKBONE_DIR), batch_size=cfg.batch_size, dtype=cfg.dtype
        )
        photos = (
            (features, decoded.failed)
            | "Features and failures" >> beam.Flatten()
            | "Fan out to examples" >> beam.FlatMap(_fan_out)
        )
        shards = {
            "examples": keyed.examples,
            "refs": keyed.refs,
            "photos": photos,
        } | "Join and write" >> AssembleShards(
            spec,
            cfg.dtype,
            out,
            num_shards=cfg.num_shards,
            shard_mb=cfg.shard_mb,
            compression_level=cfg.compression_level,
        )

        image_failures = decoded.failed | "Image failure records" >> beam.MapTuple(
            lambda key, reason: _failure("image", reason, uri=_uri_of(key))
        )
        _ = (
            (keyed.invalid, image_failures, shards["dropped"])
            | "All failures" >> beam.Flatten()
            | "Failures to list" >> beam.combiners.ToList()
            | "Write failures" >> beam.Map(_write_json_lines, path=os.path.join(out, FAILURES_FILE))
        )

        stats = (
            _count(raw, "Count in", lambda r: f"examples_in/{r[0]}"),
            _count(keyed.invalid, "Count invalid", lambda r: f"examples_invalid/{r['split']}"),
            _count(shards["dropped"], "Count dropped", lambda r: f"examples_dropped/{r['split']}"),
            _count(keyed.refs, "Count refs", lambda _: "images/references"),
            _count(uris, "Count unique", lambda _: "images/unique"),
            _count(decoded.images, "Count decoded", lambda _: "images/decoded"),
            _count(decoded.converted, "Count converted", lambda _: "images/converted_via_pil"),
            _count(decoded.failed, "Count failed", lambda _: "images/failed"),
            _count(features, "Count extracted", lambda _: "images/extracted"),
            shards["stats"],
        )
        _ = (
            stats
            | "All stats" >> beam.Flatten()
            | "Sum stats" >> beam.CombinePerKey(sum)
            | "Stats dict" >> beam.combiners.ToDict()
            | "Write stats" >> beam.Map(_write_stats, path=os.path.join(out, STATS_FILE))
        )
        return pbegin.pipeline
