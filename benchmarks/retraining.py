"""Weekly retraining: accumulated spans + warm start vs from scratch each week, on a fixed holdout.

`python -m benchmarks.retraining [--weeks 3] [--stories 120] [--steps 150] [--meteor none]`

Three (or `--weeks`) synthetic weekly partitions (different seeds, one feature backbone: `tiny`,
random weights, seed 0) go through `vistflow ingest` and `vistflow features`. After each week two
models are trained with the SAME optimizer-step budget and hyperparameters:

  accumulated  the train splits of every week so far, warm-started from last week's accumulated
               model (what `vist_retraining` does with training_window="all", warm_start=on)
  scratch      this week's train split only, from a fresh initialisation (the old behaviour)

Both are scored (coco profile, per-photo sentences of each story, greedy; Bleu_4, ROUGE_L, CIDEr) on the fixed holdout,
week 1's test split, and on this week's test split. The synthetic data is small and the features
are weak, so the numbers compare the two regimes under one budget, not against the papers.
Prints a table to stderr, then one JSON document as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time

from benchmarks.quality import (
    METRICS,
    _cli,
    _pattern,
    decode_and_score,
    hparams_config,
    load_split,
)


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.retraining", description=__doc__.split("\n")[0]
    )
    p.add_argument("--weeks", type=int, default=3)
    p.add_argument("--stories", type=int, default=120, help="synthetic stories per week")
    p.add_argument("--steps", type=int, default=150, help="optimizer steps per weekly model")
    p.add_argument("--epochs", type=int, default=5, help="epochs the steps are spread over")
    p.add_argument("--model", default="show_attend_tell")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--meteor", default="none", choices=("none", "java"))
    p.add_argument("--work-dir", default="", help="keep artifacts here (default: temp, removed)")
    return p.parse_args(argv)


def prepare_week(work: str, week: int, stories: int, seed: int) -> str:
    """Synthesize, ingest and extract features of one weekly partition; the features dir."""
    from vistflow.synth import generate

    root = os.path.join(work, f"week{week}")
    generate(os.path.join(root, "data"), stories=stories, seed=seed + 100 * week, image_size=64)
    _cli("ingest", "--data-root", f"{root}/data", "--out", f"{root}/ingest", "--num-shards", "1")
    examples = os.path.join(root, "ingest", "examples")
    if not os.path.isdir(examples):
        examples = os.path.join(root, "ingest")
    features = os.path.join(root, "features")
    # One backbone for every week (seed fixed): features of different weeks are comparable.
    _cli(
        "features",
        "--examples",
        examples,
        "--out",
        features,
        "--backbone",
        "tiny",
        "--weights",
        "random",
        "--seed",
        "0",
        "--overwrite",
    )
    return features


def train_week(out_dir, train_features, val_features, args, warm_start=None) -> dict:
    from trainer.hparams import HParams
    from trainer.train import train

    hp = HParams.from_config(
        hparams_config(args.model, args.epochs, args.seed, min_count=1, batch_size=16)
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.monotonic()
    result = train(
        [_pattern(f, "train") for f in train_features],
        _pattern(val_features, "val"),
        out_dir,
        hp,
        train_steps=args.steps,
        warm_start=warm_start,
    )
    return {
        "export_dir": result.export_dir,
        "steps": result.steps,
        "train_s": time.monotonic() - t0,
    }


def _scores(export_dir: str, split_data: dict, meteor: str) -> dict:
    from trainer.hparams import DecodingConfig

    decoded = decode_and_score(
        export_dir, DecodingConfig(method="greedy", max_length=20), split_data, meteor
    )
    return {m: decoded["metrics"].get(m) for m in METRICS if decoded["metrics"].get(m) is not None}


def main(argv=None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING)
    work = args.work_dir or tempfile.mkdtemp(prefix="bench_retraining_")
    t0 = time.monotonic()
    try:
        features = [
            prepare_week(work, w, args.stories, args.seed) for w in range(1, args.weeks + 1)
        ]
        holdout = load_split(features[0], "test")
        weeks, previous = [], None
        for w in range(1, args.weeks + 1):
            this = features[w - 1]
            acc = train_week(f"{work}/runs/acc{w}", features[:w], this, args, warm_start=previous)
            scratch = train_week(f"{work}/runs/scratch{w}", [this], this, args)
            previous = acc["export_dir"]
            week_test = load_split(this, "test")
            row = {"week": w, "steps": {"accumulated": acc["steps"], "scratch": scratch["steps"]}}
            for name, run in (("accumulated", acc), ("scratch", scratch)):
                row[name] = {
                    "holdout": _scores(run["export_dir"], holdout, args.meteor),
                    "this_week_test": _scores(run["export_dir"], week_test, args.meteor),
                }
            weeks.append(row)
            print(
                f"week {w}: holdout CIDEr accumulated+warm "
                f"{row['accumulated']['holdout'].get('CIDEr')} vs scratch "
                f"{row['scratch']['holdout'].get('CIDEr')}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "config": {k: v for k, v in vars(args).items() if k != "work_dir"},
                "holdout": "week 1 test split",
                "holdout_stories": len(holdout["ids"]),
                "weeks": weeks,
                "wall_s": round(time.monotonic() - t0, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
