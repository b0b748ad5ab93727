"""Beam job: CNN features for every photo of the ingest Examples, each unique image extracted once.

Examples (Split-*/ TFRecords of SequenceExamples) → unique image URIs → read + decode + resize
(`vistflow.images`: graph-ready bytes, then the in-graph `decode_image` that the exported model
runs too) → RunInference (`BackboneModelHandler`, fixed-size batches) → join back to their
examples on the URI → sharded, sorted, gzipped TFRecords
`Split-<split>/data_tfrecord-SSSSS-of-NNNNN.gz` that ImportExampleGen and the TFX Trainer read as
SequenceExamples.

The output directory appears only when complete: everything is written to `<out>.incomplete/`
(removed first if a killed run left it) and renamed at the end, so a killed-then-rerun job ends
with the same bytes as an uninterrupted one. An image that fails to decode goes to
`failures.jsonl` with its reason, and the examples that use it are left out (never zero-filled).

Run it with any Beam runner:
  python -m components.feature_extractor.pipeline --examples DIR --out DIR --backbone tiny \
      --runner=DirectRunner --direct_running_mode=multi_processing --direct_num_workers=2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

from vistflow import backbones, images, outputs
from vistflow import example_format as ef
from vistflow.errors import VistflowError

from . import feature_examples as fe
from .inference import METRICS_NAMESPACE, BackboneModelHandler, DecodedImage
from .options import ExtractionConfig, add_arguments, config_from_args

logger = logging.getLogger(__name__)

METADATA_FILE = "features_metadata.json"
FAILURES_FILE = "failures.jsonl"
BACKBONE_DIR = "backbone"
INCOMPLETE_SUFFIX = ".incomplete"
_STATS_FILE = "_stats.json"
_WRITING_DIR = "_writing"
_SHARD_NAME = "data_tfrecord-{shard:05d}-of-{num_shards:05d}.gz"
_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------------------------


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


def pil_to_png(data: bytes) -> bytes:
    """Graph-ready bytes of any image PIL reads (kept for callers; see vistflow.images)."""
    return images.graph_ready_bytes(data)


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
        self._decode = tf.function(
            lambda data: backbones.decode_image(data, size),
            input_signature=[tf.TensorSpec([], tf.string)],
        )
        self._encode = tf.function(
            lambda pixels: tf.io.encode_jpeg(
                tf.cast(tf.round(tf.clip_by_value(pixels, 0.0, 255.0)), tf.uint8),
                quality=quality,
            ),
            input_signature=[tf.TensorSpec([size, size, 3], tf.float32)],
        )
        self._count = 0

    def process(self, uri: str):
        try:
            with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                data = images.read_bounded(f, self._limits.max_bytes)
        except images.FileTooLarge as e:  # ingest checked it; it grew or was replaced since
            self._failed.inc()
            yield pvalue.TaggedOutput(self.FAILED, (uri, f"too_large: {e}"))
            return
        except Exception as e:  # any filesystem's not-found / permission / IO error
            self._failed.inc()
            yield pvalue.TaggedOutput(self.FAILED, (uri, f"cannot read: {_reason(e)}"))
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
                self.FAILED, (uri, f"cannot decode: {e.reason}: {_reason(e)}")
            )
            return
        except self._errors as e:
            self._failed.inc()
            yield pvalue.TaggedOutput(self.FAILED, (uri, f"cannot decode: {_reason(e)}"))
            return
        if ready is not data:
            self._converted.inc()
            yield pvalue.TaggedOutput(self.CONVERTED, uri)
        jpeg = self._encode(pixels).numpy() if self._store else None
        self._decoded.inc()
        self._count += 1
        if self._count % self._LOG_EVERY == 0:
            logger.info("decoded %d images in this worker", self._count)
        yield uri, DecodedImage(pixels.numpy(), jpeg)


def _reason(error: Exception) -> str:
    """The human part of a TF/PIL error, without graph node names or object addresses.

    failures.jsonl must be byte-identical across reruns, so nothing run-specific may leak in.
    """
    text = (str(error).strip() or type(error).__name__).splitlines()[0]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "<data>", text)
    return re.sub(r"\s*\[Op:[^\]]*\]", "", text).strip()


class DecodeImages(beam.PTransform):
    """uri → main (uri, DecodedImage), `failed` (uri, reason), `converted` uri (went through PIL)."""

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

    def process(self, item: tuple[str, PredictionResult]):
        uri, result = item
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
        yield uri, fe.ImageFeatures(arrays[0], arrays[1], result.example.jpeg)


class ExtractFeatures(beam.PTransform):
    """(uri, DecodedImage) → (uri, ImageFeatures in the storage dtype), via RunInference."""

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
    """(uri, {refs, features, failures}) → (example key, (position, uri, features | reason))."""
    uri, grouped = element
    features, failures = list(grouped["features"]), list(grouped["failures"])
    if features:
        value = features[0]
    elif failures:
        value = str(failures[0])
    else:  # every referenced URI is decoded or failed: anything else is a bug, not bad data
        raise RuntimeError(f"{uri}: neither features nor a failure came back")
    for key, position in grouped["refs"]:
        yield key, (position, uri, value)


class _AssembleFn(beam.DoFn):
    DROPPED = "dropped"

    def __init__(self, spec: backbones.BackboneSpec, dtype: str):
        self._spec, self._dtype = spec, dtype
        self._written = Metrics.counter(METRICS_NAMESPACE, "examples_written")
        self._dropped = Metrics.counter(METRICS_NAMESPACE, "examples_dropped")

    def process(self, element):
        (split, _), grouped = element
        photos = {position: (uri, value) for position, uri, value in grouped["photos"]}
        for serialized in grouped["examples"]:
            example = fe.parse(serialized)
            example_id = fe.context_str(example, ef.ID)
            failed = [(uri, v) for uri, v in photos.values() if isinstance(v, str)]
            if failed:
                self._dropped.inc()
                reason = "; ".join(f"image {uri} failed: {why}" for uri, why in sorted(failed))
                yield pvalue.TaggedOutput(
                    self.DROPPED, _failure("example", reason, split=split, id=example_id)
                )
                continue
            ordered = [photos[i][1] for i in range(len(photos))]
            self._written.inc()
            yield split, example_id, fe.add_features(serialized, ordered, self._spec, self._dtype)


class JoinFeatures(beam.PTransform):
    """Joins image features back to their examples on the URI.

    Input: dict(examples=(key, serialized), refs=(uri, (key, position)), features=(uri,
    ImageFeatures), failures=(uri, reason)). Output: main (split, id, serialized feature example),
    `dropped` failure records for examples with an image that failed.
    """

    def __init__(self, spec: backbones.BackboneSpec, dtype: str):
        super().__init__()
        self._spec, self._dtype = spec, dtype

    def expand(self, inputs):
        photos = (
            {k: inputs[k] for k in ("refs", "features", "failures")}
            | "Group by uri" >> beam.CoGroupByKey()
            | "Fan out to examples" >> beam.FlatMap(_fan_out)
        )
        return (
            {"examples": inputs["examples"], "photos": photos}
            | "Group by example" >> beam.CoGroupByKey()
            | "Assemble"
            >> beam.ParDo(_AssembleFn(self._spec, self._dtype)).with_outputs(
                _AssembleFn.DROPPED, main="examples"
            )
        )


def _num_shards(total_bytes: int, num_shards: int, shard_mb: int) -> int:
    return num_shards or max(1, math.ceil(total_bytes / (shard_mb * 2**20)))


def _shard_of(example_id: str, serialized: bytes, num_shards: int) -> int:
    digest = hashlib.sha256(example_id.encode() + b"\0" + serialized).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


class _WriteShardFn(beam.DoFn):
    def __init__(self, out_dir: str, compression_level: int):
        self._out_dir, self._level = out_dir, compression_level
        self._bytes = Metrics.counter(METRICS_NAMESPACE, "feature_bytes_written")

    def process(self, element):
        import tensorflow as tf

        (split, shard, num_shards), records = element
        records = sorted(records)  # by id, then bytes: the order never depends on the runner
        name = _SHARD_NAME.format(shard=shard, num_shards=num_shards)
        final = os.path.join(self._out_dir, ef.SPLIT_DIR.format(split=split), name)
        # Write aside, then rename: a retried or speculative bundle never leaves a half shard.
        scratch = os.path.join(self._out_dir, _WRITING_DIR, f"{split}-{name}-{uuid.uuid4().hex}")
        tf.io.gfile.makedirs(os.path.dirname(scratch))
        tf.io.gfile.makedirs(os.path.dirname(final))
        options = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=self._level)
        with tf.io.TFRecordWriter(scratch, options) as writer:
            for _, serialized in records:
                writer.write(serialized)
        tf.io.gfile.rename(scratch, final, overwrite=True)
        size = tf.io.gfile.stat(final).length
        self._bytes.inc(size)
        logger.info("wrote %s (%d examples, %d bytes)", final, len(records), size)
        yield split, len(records)


class WriteShards(beam.PTransform):
    """(split, id, serialized) → sorted gzipped shards under `out_dir/Split-<split>/`.

    Shard of an example = hash(id, bytes) mod the split's shard count, which is fixed or derived
    from the split's total size: the same inputs always give the same files. Returns (stat, n).
    """

    def __init__(self, out_dir: str, *, num_shards: int, shard_mb: int, compression_level: int):
        super().__init__()
        self._out_dir, self._num_shards, self._shard_mb = out_dir, num_shards, shard_mb
        self._level = compression_level

    def expand(self, examples):
        split_bytes = (
            examples
            | "Size" >> beam.Map(lambda r: (r[0], len(r[2])))
            | "Bytes per split" >> beam.CombinePerKey(sum)
        )
        fixed, shard_mb = self._num_shards, self._shard_mb
        shard_counts = split_bytes | "Shards per split" >> beam.MapTuple(
            lambda split, size: (split, _num_shards(size, fixed, shard_mb))
        )

        def assign(record, counts):
            split, example_id, serialized = record
            n = counts[split]
            return (split, _shard_of(example_id, serialized, n), n), (example_id, serialized)

        _ = (
            examples
            | "Assign shard" >> beam.Map(assign, counts=pvalue.AsDict(shard_counts))
            | "Group shards" >> beam.GroupByKey()
            | "Write shard" >> beam.ParDo(_WriteShardFn(self._out_dir, self._level))
        )
        return (
            split_bytes | "Bytes stat" >> beam.MapTuple(lambda s, n: (f"bytes/{s}", n)),
            shard_counts | "Shards stat" >> beam.MapTuple(lambda s, n: (f"shards/{s}", n)),
        ) | "Flatten shard stats" >> beam.Flatten()


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
        uris = keyed.refs | "Uris" >> beam.Keys() | "Unique uris" >> beam.Distinct()
        decoded = uris | "Decode images" >> DecodeImages(
            spec.input_size, store_images=cfg.store_images, jpeg_quality=cfg.jpeg_quality
        )
        features = decoded.images | "Extract features" >> ExtractFeatures(
            os.path.join(out, BACKBONE_DIR), batch_size=cfg.batch_size, dtype=cfg.dtype
        )
        joined = {
            "examples": keyed.examples,
            "refs": keyed.refs,
            "features": features,
            "failures": decoded.failed,
        } | "Join" >> JoinFeatures(spec, cfg.dtype)
        shard_stats = joined.examples | "Write" >> WriteShards(
            out,
            num_shards=cfg.num_shards,
            shard_mb=cfg.shard_mb,
            compression_level=cfg.compression_level,
        )

        image_failures = decoded.failed | "Image failure records" >> beam.MapTuple(
            lambda uri, reason: _failure("image", reason, uri=uri)
        )
        _ = (
            (keyed.invalid, image_failures, joined.dropped)
            | "All failures" >> beam.Flatten()
            | "Failures to list" >> beam.combiners.ToList()
            | "Write failures" >> beam.Map(_write_json_lines, path=os.path.join(out, FAILURES_FILE))
        )

        stats = (
            _count(raw, "Count in", lambda r: f"examples_in/{r[0]}"),
            _count(keyed.invalid, "Count invalid", lambda r: f"examples_invalid/{r['split']}"),
            _count(joined.dropped, "Count dropped", lambda r: f"examples_dropped/{r['split']}"),
            _count(joined.examples, "Count written", lambda r: f"examples_written/{r[0]}"),
            _count(keyed.refs, "Count refs", lambda _: "images/references"),
            _count(uris, "Count unique", lambda _: "images/unique"),
            _count(decoded.images, "Count decoded", lambda _: "images/decoded"),
            _count(decoded.converted, "Count converted", lambda _: "images/converted_via_pil"),
            _count(decoded.failed, "Count failed", lambda _: "images/failed"),
            _count(features, "Count extracted", lambda _: "images/extracted"),
            shard_stats,
        )
        _ = (
            stats
            | "All stats" >> beam.Flatten()
            | "Sum stats" >> beam.CombinePerKey(sum)
            | "Stats dict" >> beam.combiners.ToDict()
            | "Write stats" >> beam.Map(_write_stats, path=os.path.join(out, _STATS_FILE))
        )
        return pbegin.pipeline


# ---------------------------------------------------------------------------------------------
# Launcher: backbone, temp dir, run, metadata, atomic commit
# ---------------------------------------------------------------------------------------------


def split_patterns(examples_dir: str) -> dict[str, str]:
    """{split: file pattern} for an Examples directory laid out as `Split-<split>/<files>`."""
    import tensorflow as tf

    prefix = ef.SPLIT_DIR.format(split="")
    split_dirs = sorted(tf.io.gfile.glob(os.path.join(examples_dir, prefix + "*")))
    patterns = {
        os.path.basename(d.rstrip("/"))[len(prefix) :]: os.path.join(d, "*")
        for d in split_dirs
        if tf.io.gfile.isdir(d)
    }
    if not patterns:
        raise VistflowError(f"{examples_dir}: no {prefix}<split>/ directories with Examples")
    return patterns


def _check_patterns(patterns: Mapping[str, str]) -> None:
    import tensorflow as tf

    for split, pattern in patterns.items():
        if not tf.io.gfile.glob(pattern):
            raise VistflowError(f"{pattern}: split {split!r} has no Example files")


def _prepare_dir(out_dir: str, overwrite: bool) -> str:
    import tensorflow as tf

    if tf.io.gfile.exists(out_dir) and tf.io.gfile.listdir(out_dir) and not overwrite:
        raise VistflowError(f"{out_dir}: output already exists and is not empty (--overwrite)")
    tmp = out_dir.rstrip("/") + INCOMPLETE_SUFFIX
    if tf.io.gfile.exists(tmp):
        logger.warning("removing %s left by an interrupted run", tmp)
        tf.io.gfile.rmtree(tmp)
    tf.io.gfile.makedirs(tmp)
    return tmp


def _commit(tmp: str, out_dir: str) -> None:
    """Make the finished output visible under its final name (`vistflow.outputs`).

    Replaces an earlier output (checked by `_prepare_dir`) or the empty artifact dir TFX creates
    before Do(). On an object store the metadata file is moved last, then the commit marker.
    """
    outputs.commit(tmp, out_dir, replace=True, last=(METADATA_FILE,))


def _fill_missing_shards(tmp: str, splits: Iterable[str], stats: Mapping[str, int]) -> None:
    """Empty shards for hash buckets (or whole splits) that got no example: no gaps, no missing split."""
    import tensorflow as tf

    for split in splits:
        n = stats.get(f"shards/{split}", 1)
        split_dir = os.path.join(tmp, ef.SPLIT_DIR.format(split=split))
        tf.io.gfile.makedirs(split_dir)
        for shard in range(n):
            path = os.path.join(split_dir, _SHARD_NAME.format(shard=shard, num_shards=n))
            if not tf.io.gfile.exists(path):
                with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")):
                    pass


def _counters(result) -> dict[str, int] | None:
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except (NotImplementedError, AttributeError):
        return None
    totals: dict[str, int] = {}
    for counter in query["counters"]:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    return totals


def _metadata(
    cfg: ExtractionConfig,
    spec: backbones.BackboneSpec,
    weights: dict,
    splits: list[str],
    stats: Mapping[str, int],
    counters: Mapping[str, int] | None,
) -> dict[str, Any]:
    per_split = {
        split: {
            name: stats.get(f"{name}/{split}", 0)
            for name in (
                "examples_in",
                "examples_written",
                "examples_dropped",
                "examples_invalid",
                "shards",
                "bytes",
            )
        }
        for split in splits
    }
    for split in splits:
        per_split[split]["shards"] = per_split[split]["shards"] or 1
    images = {
        name: stats.get(f"images/{name}", 0)
        for name in ("references", "unique", "decoded", "converted_via_pil", "failed", "extracted")
    }
    # Model executions as counted inside the ModelHandler (Beam counters); the ratio is the
    # dedup check: 1.0 means every unique image went through the CNN exactly once.
    extractions = (counters or {}).get("images_extracted")
    images["model_executions"] = extractions
    if cfg.dtype == "float16":
        images["float16_underflow_values"] = (counters or {}).get("float16_underflow_values")
    ratio = images["decoded"] / extractions if extractions else None
    meta = {
        "format_version": _FORMAT_VERSION,
        "backbone": spec.name,
        "input_size": spec.input_size,
        "global_dim": spec.global_dim,
        "local_shape": list(spec.local_shape),
        "dtype": cfg.dtype,
        "store_images": cfg.store_images,
        "batch_size": cfg.batch_size,
        "weights": weights["weights"],
        "weights_sha256": weights.get("sha256"),
        "weights_random": weights["random"],
        "config": asdict(cfg),
        "splits": per_split,
        "images": images,
        "unique_images_per_extraction": ratio,
        "files": {
            "examples": f"{ef.SPLIT_DIR}/{ef.SHARD_PATTERN}",
            "payload": "tf.train.SequenceExample (gzipped TFRecord)",
            "backbone": f"{BACKBONE_DIR}/",
            "failures": FAILURES_FILE,
        },
    }
    if weights["random"]:
        meta["weights_note"] = backbones.RANDOM_WEIGHTS_NOTE
    return meta


def extract_features(
    examples: str | Mapping[str, str],
    out_dir: str,
    config: ExtractionConfig,
    *,
    pipeline: beam.Pipeline | None = None,
    beam_args: list[str] | None = None,
    save_main_session: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the job; returns the metadata also written to `out_dir/features_metadata.json`.

    Args:
      examples: an Examples directory (`Split-<split>/…`) or {split: file pattern}.
      out_dir: the output directory; it must not exist or be empty unless `overwrite`.
      config: what to extract.
      pipeline: an unstarted Pipeline to build on (TestPipeline, a TFX executor's pipeline);
        otherwise one is made from `beam_args`.
      save_main_session: pickle the caller's __main__ for the workers. Off by default: the job's
        DoFns live in importable modules, and an unpicklable __main__ global would fail the run.
    """
    import tensorflow as tf

    cfg = config.validate()
    spec = backbones.get_spec(cfg.backbone)
    patterns = dict(examples) if isinstance(examples, Mapping) else split_patterns(examples)
    _check_patterns(patterns)
    weights = backbones.describe_weights(cfg.weights, cfg.seed, name=cfg.backbone)
    # Build (and for imagenet: download) once here, before touching the output; workers load the
    # saved copy, so every worker runs the identical network and a random init is never re-drawn.
    model = backbones.build_backbone(cfg.backbone, weights=cfg.weights, seed=cfg.seed)
    tmp = _prepare_dir(out_dir, overwrite)
    backbones.save_backbone(model, spec, weights, os.path.join(tmp, BACKBONE_DIR))
    del model
    if weights["random"]:
        logger.warning("backbone %s: %s", spec.name, backbones.RANDOM_WEIGHTS_NOTE)

    if pipeline is None:
        options = PipelineOptions(beam_args or [])
        options.view_as(SetupOptions).save_main_session = save_main_session
        pipeline = beam.Pipeline(options=options)
    _ = pipeline | "FeatureExtraction" >> FeatureExtraction(patterns, tmp, cfg)
    logger.info("extracting %s features of %s into %s", spec.name, sorted(patterns), out_dir)
    result = pipeline.run()
    state = result.wait_until_finish()
    if state not in (None, beam.runners.runner.PipelineState.DONE):
        raise RuntimeError(f"feature extraction pipeline ended in state {state}")

    stats_path = os.path.join(tmp, _STATS_FILE)
    with tf.io.gfile.GFile(stats_path) as f:
        stats = json.load(f)
    tf.io.gfile.remove(stats_path)
    if tf.io.gfile.exists(os.path.join(tmp, _WRITING_DIR)):
        tf.io.gfile.rmtree(os.path.join(tmp, _WRITING_DIR))
    splits = sorted(patterns)
    _fill_missing_shards(tmp, splits, stats)
    counters = _counters(result)
    meta = _metadata(cfg, spec, weights, splits, stats, counters)
    with tf.io.gfile.GFile(os.path.join(tmp, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    _commit(tmp, out_dir)

    if meta["images"].get("float16_underflow_values"):
        logger.warning(
            "%d nonzero feature values were below float16's range and stored as 0 "
            "(expected only for random weights; real CNN features are far larger)",
            meta["images"]["float16_underflow_values"],
        )
    failed = meta["images"]["failed"]
    dropped = sum(s["examples_dropped"] + s["examples_invalid"] for s in meta["splits"].values())
    log = logger.warning if failed or dropped else logger.info
    log(
        "features: %s; %d unique images (%d references), %d failed, %d examples left out (see %s)",
        ", ".join(f"{s}={v['examples_written']}" for s, v in meta["splits"].items()),
        meta["images"]["unique"],
        meta["images"]["references"],
        failed,
        dropped,
        os.path.join(out_dir, FAILURES_FILE),
    )
    return meta


# ---------------------------------------------------------------------------------------------
# Command line (shared by `vistflow features` and `python -m components.feature_extractor.pipeline`)
# ---------------------------------------------------------------------------------------------


def run(argv: list[str] | None = None, save_main_session: bool = True, test_pipeline=None) -> dict:
    """Parse our flags, pass the rest to Beam, run; returns the metadata."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args, beam_args = parser.parse_known_args(argv)
    return extract_features(
        args.examples,
        args.out,
        config_from_args(args),
        pipeline=test_pipeline,
        beam_args=beam_args,
        save_main_session=save_main_session,
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    import sys

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        run()
    except VistflowError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
