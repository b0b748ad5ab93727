"""Distributed training: Trainer examples/s on one device and mirrored on two, side by side.

    python -m benchmarks.distributed [--stories 200] [--steps 30] [--hidden 512] [--batch 64]

One process splits its CPU into two logical devices (`trainer.distribute.split_cpu`, before
TensorFlow starts), then trains the same model on the same synthetic features (synth -> ingest ->
`tiny` features, benchmarks.quality.prepare_data) twice with `trainer.train.train`:

  one_device  distribute="none"      the default strategy (CPU:0)
  mirrored    distribute="mirrored"  MirroredStrategy over the two logical CPUs

Same global batch, same steps. examples/s counts training rows between the ends of the first and
the last batch of the epochs after the first (the first traces the step functions), so startup,
validation and export are left out. Both logical devices share this machine's cores and
TensorFlow's thread pools: the ratio is what replication costs or gains on one CPU host (the
two replicas' ops can overlap where one replica's step leaves cores idle), not a multi-GPU
speedup. `max_rel_loss_diff` is the largest relative difference of the two runs' epoch losses
(tests/trainer/test_distribute.py holds it to 1e-4).
Prints one JSON document as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.distributed", description=__doc__.split("\n")[0]
    )
    p.add_argument("--stories", type=int, default=200, help="synthetic stories")
    p.add_argument("--model", default="show_attend_tell")
    p.add_argument("--hidden", type=int, default=512, help="hidden/embedding/attention size")
    p.add_argument("--batch", type=int, default=64, help="global batch (rows)")
    p.add_argument("--steps", type=int, default=30, help="optimizer steps per epoch")
    p.add_argument("--epochs", type=int, default=3, help="the first is warm-up")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="", help="keep artifacts here (default: temp, removed)")
    return p.parse_args(argv)


def _timer():
    import keras

    class BatchTimes(keras.callbacks.Callback):
        """Wall time at the end of every training batch of the epochs after the first."""

        def on_train_begin(self, logs=None):
            self.ends: list[list[float]] = []
            self.replicas = self.model.distribute_strategy.num_replicas_in_sync

        def on_epoch_begin(self, epoch, logs=None):
            self.ends.append([])

        def on_train_batch_end(self, batch, logs=None):
            self.ends[-1].append(time.perf_counter())

    return BatchTimes()


def _run(mode: str, features: str, out: str, args) -> dict:
    from benchmarks.quality import _pattern, hparams_config
    from trainer.hparams import HParams
    from trainer.train import train

    size = args.hidden
    hp = HParams.from_config(
        hparams_config(
            args.model,
            args.epochs,
            args.seed,
            embedding_dim=size,
            hidden_dim=size,
            attention_dim=size,
            batch_size=args.batch,
            dropout=0.0,  # per-replica dropout masks would differ from one device's
            min_count=1,
            distribute=mode,
        )
    )
    timer = _timer()
    t0 = time.monotonic()
    result = train(
        _pattern(features, "train"),
        _pattern(features, "val"),
        out,
        hp,
        train_steps=args.steps * args.epochs,
        eval_steps=1,
        callbacks=[timer],
    )
    rows = steps = seconds = 0.0
    for ends in timer.ends[1:]:  # epoch 0 traces the step functions
        steps += len(ends) - 1
        seconds += ends[-1] - ends[0]
    rows = steps * args.batch
    return {
        "replicas": timer.replicas,
        "examples_per_s": round(rows / seconds, 1),
        "timed_steps": int(steps),
        "train_call_s": round(time.monotonic() - t0, 1),
        "loss": [h["loss"] for h in result.history],
    }


def run(argv=None) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parse(argv)
    from trainer import distribute

    distribute.split_cpu(2)  # before anything starts TensorFlow
    from benchmarks.quality import prepare_data

    work = args.work_dir or tempfile.mkdtemp(prefix="vistflow-bench-distributed-")
    try:
        data = prepare_data(work, args.stories, args.seed, store_images=False)
        runs = {
            name: _run(mode, data["features"], os.path.join(work, name), args)
            for name, mode in (("one_device", "none"), ("mirrored", "mirrored"))
        }
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    one, two = runs["one_device"], runs["mirrored"]
    diff = max(abs(a - b) / abs(a) for a, b in zip(one.pop("loss"), two.pop("loss"), strict=True))
    return {
        "one_device": one,
        "mirrored": two,
        "mirrored_over_one_device": round(two["examples_per_s"] / one["examples_per_s"], 3),
        "max_rel_loss_diff": float(f"{diff:.2g}"),
        "config": {
            "model": args.model,
            "hidden": args.hidden,
            "global_batch": args.batch,
            "steps_per_epoch": args.steps,
            "epochs": args.epochs,
            "stories": args.stories,
            "cpu_count": os.cpu_count(),
            "prepare_s": data["prepare_s"],
        },
    }


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
