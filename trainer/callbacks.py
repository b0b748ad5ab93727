"""Resumable training state: backup/restore, early stopping and best weights in one callback.

Keras' BackupAndRestore writes its weights file in place (a kill during the write leaves an
unreadable file) and does not restore EarlyStopping's or ModelCheckpoint's counters, so a resumed
run would forget its best epoch. `TrainingState` keeps all of it in `<checkpoint_dir>/`:

  state.json              completed epochs, best value and epoch, patience counter, history
  epoch-<n>.weights.h5    model + optimizer after epoch n (the latest only)
  best.weights.h5         model weights of the best validation epoch

Every file is written under a temporary name and renamed, state.json last, so a kill at any
point resumes from the last complete epoch: a rerun trains exactly the remaining epochs and ends
with the same optimizer step count as an uninterrupted run.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile

import keras
import tensorflow as tf

from vistflow.outputs import committed_output, write_file_atomic

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
BEST_WEIGHTS = "best.weights.h5"


def _atomic_save_weights(model, path: str) -> None:
    """model.save_weights to a local temp file, then copy/rename into place (works on gs:// too)."""
    local_dir = tempfile.mkdtemp(prefix="vistflow-ckpt-")
    local = os.path.join(local_dir, os.path.basename(path))
    try:
        model.save_weights(local)
        with committed_output(path, replace=True) as tmp:
            tf.io.gfile.copy(local, tmp, overwrite=True)
    finally:
        tf.io.gfile.rmtree(local_dir)


def load_weights(model, path: str) -> None:
    """model.load_weights from a local or remote .weights.h5 file."""
    if "://" not in path:
        model.load_weights(path)
        return
    local_dir = tempfile.mkdtemp(prefix="vistflow-ckpt-")
    local = os.path.join(local_dir, os.path.basename(path))
    try:
        tf.io.gfile.copy(path, local, overwrite=True)
        model.load_weights(local)
    finally:
        tf.io.gfile.rmtree(local_dir)


class TrainingState(keras.callbacks.Callback):
    """Checkpoint every epoch, track the best `monitor` value, stop after `patience` bad epochs."""

    def __init__(self, checkpoint_dir: str, *, monitor: str, patience: int, min_delta: float = 0.0):
        super().__init__()
        self.dir = checkpoint_dir
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.epochs_done = 0
        self.best = math.inf
        self.best_epoch = -1
        self.wait = 0
        self.history: list[dict] = []
        self.resumed_from = 0
        self.stopped_early = False

    @property
    def best_weights_path(self) -> str:
        return os.path.join(self.dir, BEST_WEIGHTS)

    def on_train_begin(self, logs=None):
        tf.io.gfile.makedirs(self.dir)
        path = os.path.join(self.dir, STATE_FILE)
        if not tf.io.gfile.exists(path):
            return
        with tf.io.gfile.GFile(path) as f:
            state = json.load(f)
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        load_weights(self.model, os.path.join(self.dir, state["weights"]))
        self.epochs_done = self.resumed_from = int(state["epochs_done"])
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.history = list(state["history"])
        self.stopped_early = bool(state.get("stopped_early", False))
        # Skip the epochs already trained (what BackupAndRestore does); a run that had already
        # stopped early has nothing left to do.
        done = self.params.get("epochs", 0) if self.stopped_early else self.epochs_done
        self.model._initial_epoch = done
        logger.info(
            "resuming from %s: %d epoch(s) done, best %s=%.4f at epoch %d",
            self.dir,
            self.epochs_done,
            self.monitor,
            self.best,
            self.best_epoch,
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.history = [h for h in self.history if h["epoch"] != epoch] + [{"epoch": epoch, **logs}]
        value = logs.get(self.monitor)
        if value is None:
            raise KeyError(f"early stopping monitors {self.monitor!r}, not in logs {sorted(logs)}")
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            _atomic_save_weights(self.model, self.best_weights_path)
        else:
            self.wait += 1
        if self.wait >= self.patience:
            self.stopped_early = True
            self.model.stop_training = True
            logger.info(
                "early stop after epoch %d: %s has not improved on %.4f (epoch %d) for %d epochs",
                epoch,
                self.monitor,
                self.best,
                self.best_epoch,
                self.wait,
            )
        self.epochs_done = epoch + 1
        weights = f"epoch-{self.epochs_done}.weights.h5"
        _atomic_save_weights(self.model, os.path.join(self.dir, weights))
        state = {
            "epochs_done": self.epochs_done,
            "weights": weights,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_early": self.stopped_early,
            "monitor": self.monitor,
            "history": self.history,
        }
        write_file_atomic(os.path.join(self.dir, STATE_FILE), json.dumps(state, indent=1))
        for name in tf.io.gfile.listdir(self.dir):
            if name.startswith("epoch-") and name != weights:
                tf.io.gfile.remove(os.path.join(self.dir, name))


def plot_history(history: list[dict], path: str, title: str) -> None:
    """Training and validation loss per epoch as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] + 1 for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for key, label in (
        ("loss", "train loss"),
        ("val_loss", "validation loss"),
        ("token_nll", "train NLL/token"),
        ("val_token_nll", "validation NLL/token"),
    ):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax.plot(epochs, values, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png = io.BytesIO()  # rendered in memory: no local temp file to leak beside a remote path
    fig.savefig(png, format="png")
    plt.close(fig)
    write_file_atomic(path, png.getvalue())
