"""Train a captioning/storytelling model on feature examples and export it (no TFX needed).

The same training loop as the TFX Trainer (trainer/run.py). Hyperparameters as in
custom_config: `--set key=value` (repeatable, e.g. `--set model=global_context --set epochs=5
--set decoding.beam_size=5`) or `--config file.json`. Prints the run summary as JSON.

  vistflow train --train 'feat/Split-train/*.gz' --eval 'feat/Split-val/*.gz' --out runs/sat \
      --set model=show_attend_tell --results-csv runs/results.csv
"""

from __future__ import annotations

import argparse
import json

from vistflow.errors import VistflowError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", required=True, help="training examples file pattern")
    parser.add_argument("--eval", required=True, help="validation examples file pattern")
    parser.add_argument("--out", required=True, help="run directory (export/, logs/, loss.png...)")
    parser.add_argument("--config", help="JSON file of hyperparameters (custom_config)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="one hyperparameter"
    )
    parser.add_argument("--export-dir", help="SavedModel directory (default OUT/export)")
    parser.add_argument("--results-csv", help="append the run's results row to this CSV")
    parser.add_argument("--backbone-dir", help="the extractor's backbone/ ('none': no images)")
    parser.add_argument("--warm-start", help="a previous export to start from")
    parser.add_argument("--train-steps", type=int, help="total steps (default: epochs of data)")
    parser.add_argument("--eval-steps", type=int, help="validation batches per epoch")


def parse_config(config_file: str | None, pairs: list[str]) -> dict:
    config: dict = {}
    if config_file:
        try:
            with open(config_file) as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            raise VistflowError(f"{config_file}: cannot read the JSON config: {e}") from e
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise VistflowError(f"--set {pair}: expected KEY=VALUE")
        config[key.strip()] = value.strip()
    return config


def main(args: argparse.Namespace) -> int:
    from trainer.hparams import HParams
    from trainer.train import train

    hparams = HParams.from_config(parse_config(args.config, args.set))
    result = train(
        args.train,
        args.eval,
        args.out,
        hparams,
        export_dir=args.export_dir,
        results_csv=args.results_csv,
        backbone_dir=args.backbone_dir,
        warm_start=args.warm_start,
        train_steps=args.train_steps,
        eval_steps=args.eval_steps,
    )
    summary = {k: v for k, v in result.to_dict().items() if k not in ("history", "hparams")}
    print(json.dumps(summary, indent=1))
    return 0
