"""One row per training run appended to a results CSV (custom_config["results_csv"]).

Columns are fixed so rows from different models line up; `config` holds the full hyperparameters
as JSON. Local files are appended under an exclusive lock (parallel Trainer runs share the file);
remote files (gs://...) are rewritten whole, which is safe only without concurrent writers.
"""

from __future__ import annotations

import csv
import io
import json
import os

import tensorflow as tf

COLUMNS = (
    "finished_utc",
    "run",
    "model",
    "task",
    "epochs",
    "steps",
    "best_epoch",
    "train_loss",
    "val_loss",
    "val_token_nll",
    "val_perplexity",
    "val_token_accuracy",
    "wall_time_s",
    "vocab_size",
    "stopped_early",
    "resumed_from_epoch",
    "export_dir",
    "config",
    # A scheduled retraining run (pipelines/trainer_executor.py): its window and warm start.
    "train_spans",
    "train_stories",
    "warm_start_from",
)


def append_row(path: str, row: dict) -> None:
    """Append `row` (keys from COLUMNS; dicts are JSON-encoded) to the CSV at `path`."""
    values = {k: row.get(k, "") for k in COLUMNS}
    values = {
        k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in values.items()
    }
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writerow(values)
    line = buf.getvalue()
    header = ",".join(COLUMNS) + "\r\n"
    if "://" in path:
        old = tf.io.gfile.GFile(path).read() if tf.io.gfile.exists(path) else ""
        with tf.io.gfile.GFile(path, "w") as f:
            f.write((old or header) + line)
        return
    import fcntl

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0, os.SEEK_END)  # another run may have written since we opened
            if f.tell() == 0:
                f.write(header)
            f.write(line)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def train_row(result, *, run_name: str = "", **extra) -> dict:
    """The results row of a `trainer.train.TrainResult`, plus `extra` columns."""
    import math
    import time

    best = next((h for h in result.history if h["epoch"] == result.best_epoch), {})
    nll = best.get("val_token_nll", float("nan"))

    def fmt(value) -> str:
        return "" if value is None else f"{value:.6g}"

    return {
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run": run_name or os.path.basename(result.out_dir.rstrip("/")),
        "model": result.hparams.model,
        "task": result.hparams.task,
        "epochs": result.epochs,
        "steps": result.steps,
        "best_epoch": result.best_epoch,
        "train_loss": fmt(best.get("loss")),
        "val_loss": fmt(best.get("val_loss")),
        "val_token_nll": fmt(nll),
        "val_perplexity": fmt(math.exp(nll) if nll == nll else None),
        "val_token_accuracy": fmt(best.get("val_token_accuracy")),
        "wall_time_s": result.wall_time_s,
        "vocab_size": result.vocab_size,
        "stopped_early": int(result.stopped_early),
        "resumed_from_epoch": result.resumed_from_epoch,
        "export_dir": result.export_dir,
        "config": result.hparams.to_dict(),
        **extra,
    }


def read_rows(path: str) -> list[dict]:
    with tf.io.gfile.GFile(path) as f:
        return list(csv.DictReader(f))
