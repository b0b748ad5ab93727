"""Extract CNN features (each unique image once) into sharded SequenceExample TFRecords.

Reads ingest Examples (`--examples DIR` with Split-<split>/ TFRecords), runs the backbone with Beam
RunInference and writes `--out DIR`: Split-<split>/data_tfrecord-*.gz with `global_features` and
`local_features` per photo, features_metadata.json, failures.jsonl and backbone/ (the exact network,
for the trainer's exported image signatures). The output appears only when complete.

Any Beam option is accepted, e.g. `--runner=DirectRunner --direct_running_mode=multi_processing
--direct_num_workers=2`, or Dataflow/Flink/Spark options.

  vistflow features --examples out/examples --out out/features --backbone tiny
  vistflow features --examples ex --out feats --backbone vgg16 --weights vgg16_weights.h5 --float16
"""

from __future__ import annotations

import argparse
import json

from components.feature_extractor.options import add_arguments as _add_arguments

ACCEPTS_BEAM_ARGS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from components.feature_extractor.options import config_from_args
    from components.feature_extractor.pipeline import extract_features

    meta = extract_features(
        args.examples,
        args.out,
        config_from_args(args),
        beam_args=list(getattr(args, "beam_args", None) or []),
        overwrite=args.overwrite,
    )
    summary = {
        "out": args.out,
        "backbone": meta["backbone"],
        "weights": meta["weights"],
        "examples_written": {s: v["examples_written"] for s, v in meta["splits"].items()},
        "images": meta["images"],
        "unique_images_per_extraction": meta["unique_images_per_extraction"],
    }
    print(json.dumps(summary, sort_keys=True))
    return 0
