"""The fit loop of `trainer.train`: Keras `fit` over the epochs with the run's callbacks, then the
best epoch's weights back in the model."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from trainer.hparams import HParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Epochs:
    """What `fit` reads each epoch: the datasets and how many batches of each."""

    train: object  # tf.data.Dataset, repeated
    validation: object  # tf.data.Dataset (distributed under a strategy)
    steps: int
    validation_steps: int
    rows: int  # the training rows (pairs or stories) the steps were counted from


def progress_callbacks(hp: HParams, log_dir: str) -> list:
    """TensorBoard and one log line per epoch."""
    import keras

    return [
        keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False, update_freq="epoch"),
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: logger.info(
                "epoch %d/%d: %s",
                epoch + 1,
                hp.epochs,
                ", ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items())),
            )
        ),
    ]


def fit(model, hp: HParams, epochs: Epochs, callbacks: list, verbose: int) -> int:
    """Keras `fit` over the epochs; returns the optimizer steps taken in total."""
    logger.info(
        "fit: %d epochs x %d steps of %d rows (%d training rows)",
        hp.epochs,
        epochs.steps,
        hp.batch_size,
        epochs.rows,
    )
    model.fit(
        epochs.train,
        epochs=hp.epochs,
        steps_per_epoch=epochs.steps,
        validation_data=epochs.validation,
        validation_steps=epochs.validation_steps,
        callbacks=callbacks,
        verbose=verbose,
    )
    return int(model.optimizer.iterations.numpy())


def restore_best_epoch(model, state) -> None:
    """Load the best epoch's weights that `state` (callbacks.TrainingState) saved, if any."""
    import tensorflow as tf

    if tf.io.gfile.exists(state.best_weights_path):
        from trainer.callbacks import load_weights

        load_weights(model, state.best_weights_path)
