"""Beam job: CNN features for every photo of the ingest Examples, each unique image extracted once.

Examples (Split-*/ TFRecords of SequenceExamples) → unique image URIs, each with the stories that
show it → read + decode + resize (`vistflow.images`: graph-ready bytes, then the in-graph
`decode_image` that the exported model runs too) → RunInference (`BackboneModelHandler`,
fixed-size batches) → fanned out to those stories and joined with them by shard → sharded,
sorted, gzipped TFRecords
`Split-<split>/data_tfrecord-SSSSS-of-NNNNN.gz` that ImportExampleGen and the TFX Trainer read as
SequenceExamples.

The transforms live in `transforms.py`; this module launches them (backbone, staging directory,
run, metadata, commit) and is the job's command line.

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
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

from vistflow import backbones, example_files, outputs
from vistflow import example_format as ef
from vistflow.errors import VistflowError

from .inference import METRICS_NAMESPACE
from .options import ExtractionConfig, add_arguments, config_from_args
from .transforms import (  # noqa: F401 - FAILURES_FILE is part of this job's output contract
    BACKBONE_DIR,
    FAILURES_FILE,
    SHARD_NAME,
    STATS_FILE,
    WRITING_DIR,
    FeatureExtraction,
)

logger = logging.getLogger(__name__)

METADATA_FILE = "features_metadata.json"
INCOMPLETE_SUFFIX = ".incomplete"
_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Launcher: backbone, temp dir, run, metadata, atomic commit
# ---------------------------------------------------------------------------------------------


def split_patterns(examples_dir: str) -> dict[str, str]:
    """{split: file pattern} for an Examples directory laid out as `Split-<split>/<files>`."""
    patterns = example_files.split_patterns(examples_dir, files="*")
    if not patterns:
        raise VistflowError(
            f"{examples_dir}: no {example_files.SPLIT_PREFIX}<split>/ directories with Examples"
        )
    return patterns


def _check_patterns(patterns: Mapping[str, str]) -> None:
    import tensorflow as tf

    for split, pattern in patterns.items():
        if not tf.io.gfile.glob(pattern):
            raise VistflowError(f"{pattern}: split {split!r} has no Example files")


def _prepare_dir(out_dir: str, overwrite: bool) -> str:
    import tensorflow as tf

    # On a store, a publish killed midway left files without the marker: not an output, replaced.
    there = outputs.is_committed(out_dir) and tf.io.gfile.exists(out_dir)
    if there and tf.io.gfile.listdir(out_dir) and not overwrite:
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
            path = os.path.join(split_dir, SHARD_NAME.format(shard=shard, num_shards=n))
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

    stats_path = os.path.join(tmp, STATS_FILE)
    with tf.io.gfile.GFile(stats_path) as f:
        stats = json.load(f)
    tf.io.gfile.remove(stats_path)
    if tf.io.gfile.exists(os.path.join(tmp, WRITING_DIR)):
        tf.io.gfile.rmtree(os.path.join(tmp, WRITING_DIR))
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
