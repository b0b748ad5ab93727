"""The one training loop for every model: `train(train_pattern, eval_pattern, out_dir, hparams)`.

Used by the TFX entry point (trainer/run.py), benchmarks and tests. A run:
  1. reads the feature shapes from the first training record and the backbone the extractor
     saved next to the examples (`<artifact>/backbone/`), for the exported image signatures;
  2. builds the vocabulary from the TRAIN split only (or reuses the warm-start model's);
  3. trains with Keras `fit` on (rows of) examples: masked per-token cross-entropy, the model's
     paper optimizer with elementwise gradient clipping, early stopping on the validation
     per-token NLL, a checkpoint per epoch (a killed run resumes where it stopped), TensorBoard;
     on one device or under the `distribute` strategy (trainer/distribute.py); the fit loop
     itself is trainer/fit.py;
  4. restores the best epoch's weights and exports the SavedModel with in-graph decoding;
  5. writes the loss curve PNG, the history CSV, `train_result.json`, and appends one row to the
     results CSV.

Layout of `out_dir` (each can be redirected): `export/` (SavedModel), `logs/` (TensorBoard),
`checkpoints/` (removed after a successful run), `vocab.json`, `history.csv`, `loss.png`,
`train_result.json`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from trainer import data as data_lib
from trainer import distribute
from trainer import fit as fit_lib
from trainer.backbone import NO_BACKBONE
from trainer.hparams import HParams
from vistflow.errors import VistflowError
from vistflow.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

MONITOR = "val_token_nll"  # validation loss per target token, comparable across models


@dataclass
class TrainResult:
    """What a run produced."""

    model: str
    out_dir: str
    export_dir: str | None
    epochs: int  # epochs trained in total (across resumptions)
    steps: int  # optimizer steps in total
    best_epoch: int  # 0-based
    best_val_loss: float  # validation per-token NLL at best_epoch
    stopped_early: bool
    resumed_from_epoch: int  # 0 unless this call resumed a killed run
    wall_time_s: float
    vocab_size: int
    hparams: HParams
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hparams"] = self.hparams.to_dict()
        return d


def train(
    train_pattern: str | Sequence[str],
    eval_pattern: str | Sequence[str],
    out_dir: str,
    hparams: HParams,
    *,
    export_dir: str | None = None,
    log_dir: str | None = None,
    checkpoint_dir: str | None = None,
    train_steps: int | None = None,
    eval_steps: int | None = None,
    warm_start: str | None = None,
    backbone_dir: str | None = None,
    results_csv: str | None = None,
    run_name: str = "",
    callbacks: Sequence = (),
    verbose: int = 0,
) -> TrainResult:
    """Train `hparams.model` on feature examples and export it; see the module docstring.

    Args:
      train_pattern, eval_pattern: gzipped SequenceExample TFRecord file patterns (or lists).
      train_steps: total optimizer steps (TFX's train_args), spread over `hparams.epochs`;
        default: one pass over the training rows per epoch.
      eval_steps: validation batches per epoch; default: the whole eval split.
      warm_start: a previous vistflow export to start from (001's pretrain -> fine-tune); its
        vocabulary is reused so the embeddings keep their meaning.
      backbone_dir: the extractor's saved backbone; default `<artifact>/backbone` next to the
        training files; "none" exports the feature signatures only.
      callbacks: extra Keras callbacks (tests use one to slow training down).
    """
    import keras
    import tensorflow as tf

    from trainer import export as export_lib
    from trainer.callbacks import TrainingState
    from trainer.inference import Captioner

    started = time.time()
    hparams.validate()
    strategy = distribute.make_strategy(hparams.distribute)
    paths = _RunPaths.make(out_dir, export_dir, log_dir, checkpoint_dir, results_csv, strategy)
    keras.utils.set_random_seed(hparams.seed)
    paths.create()

    # Inputs: feature shapes, the extractor's backbone, the vocabulary.
    info = data_lib.inspect_features(train_pattern)
    hp = hparams.resolved(info.task or "dii")
    logger.info("training %s on %s features (%s)", hp.model, info.backbone, info.to_dict())
    with strategy.scope():  # fine_tune_cnn trains the backbone's variables too
        backbone, spec, backbone_meta = _resolve_backbone(hp, info, train_pattern, backbone_dir)
    image_size = spec.input_size if spec is not None else 0
    train_scan = data_lib.scan_text(train_pattern, photos_per_story=hp.photos_per_story)
    vocab = _vocabulary(hp, train_scan, warm_start, paths.out)

    # The model, its feature statistics, the datasets.
    model = _compiled_model(hp, len(vocab), info, backbone, strategy)
    rows, steps_per_epoch = _epoch_size(model, hp, train_scan, train_pattern, train_steps)
    dataset_args = _dataset_args(model, hp, info, vocab, image_size)
    standardization = _standardize(model, train_pattern, dataset_args)
    if warm_start:  # after the statistics: a warm start keeps the pretrained model's
        _restore_warm_start(model, warm_start)
    train_ds = data_lib.make_dataset(train_pattern, training=True, repeat=True, **dataset_args)
    eval_ds, validation_steps = _validation_data(
        model, hp, eval_pattern, eval_steps, dataset_args, strategy
    )

    # Fit, keep the best epoch, export, record.
    state = TrainingState(paths.checkpoints, monitor=MONITOR, patience=hp.patience)
    epochs = fit_lib.Epochs(train_ds, eval_ds, steps_per_epoch, validation_steps, rows)
    fit_callbacks = [state, *fit_lib.progress_callbacks(hp, paths.logs), *callbacks]
    steps = fit_lib.fit(model, hp, epochs, fit_callbacks, verbose)
    fit_lib.restore_best_epoch(model, state)
    summary = _training_summary(state, steps, rows, len(vocab), standardization)
    captioner = Captioner(model, vocab.words, hp.decoding, backbone=backbone, image_size=image_size)
    export_lib.export_saved_model(
        captioner, paths.export, backbone_meta=backbone_meta, training_summary=summary
    )
    result = _train_result(hp, paths, state, steps, len(vocab), started)
    _write_records(result, paths, run_name)
    # The run is complete: a rerun with the same checkpoint_dir must start afresh.
    tf.io.gfile.rmtree(paths.checkpoints)
    _log_done(result)
    return result


@dataclass(frozen=True)
class _RunPaths:
    """Where a run writes; on a cluster's other workers a scratch directory and no records."""

    out: str
    export: str
    logs: str
    checkpoints: str
    results_csv: str | None

    @classmethod
    def make(cls, out_dir, export_dir, log_dir, checkpoint_dir, results_csv, strategy):
        if not distribute.is_chief(strategy):  # a cluster's other workers: only the chief writes
            out_dir = distribute.scratch_dir(out_dir, strategy)
            export_dir = log_dir = checkpoint_dir = results_csv = None
        return cls(
            out=out_dir,
            export=export_dir or os.path.join(out_dir, "export"),
            logs=log_dir or os.path.join(out_dir, "logs"),
            checkpoints=checkpoint_dir or os.path.join(out_dir, "checkpoints"),
            results_csv=results_csv,
        )

    def create(self) -> None:
        import tensorflow as tf

        tf.io.gfile.makedirs(self.out)
        if tf.io.gfile.exists(self.export) and tf.io.gfile.listdir(self.export):
            # Fail before training, not after it.
            raise VistflowError(f"{self.export}: export directory exists and is not empty")


# --- inputs: vocabulary, model, datasets ---------------------------------------------------------


def _vocabulary(hp: HParams, train_scan, warm_start: str | None, out_dir: str) -> Vocabulary:
    """The train split's vocabulary, or the warm-start model's; written to `vocab.json`."""
    if warm_start:
        from trainer import export as export_lib

        words = export_lib.read_metadata(warm_start)["vocabulary"]
        vocab = Vocabulary(words=tuple(words), min_count=hp.min_count)
        logger.info("warm start from %s: reusing its %d-word vocabulary", warm_start, len(vocab))
    else:
        vocab = Vocabulary.from_counts(
            train_scan.counts,
            min_count=hp.min_count,
            max_size=hp.max_vocab,
            sentences=train_scan.sentences,
        )
    _write(os.path.join(out_dir, "vocab.json"), vocab.to_json())
    logger.info(
        "vocabulary: %d ids from %d training sentences (min count %d, cap %d)",
        len(vocab),
        train_scan.sentences,
        hp.min_count,
        hp.max_vocab,
    )
    return vocab


def _compiled_model(hp: HParams, vocab_size: int, info, backbone, strategy):
    """`hp.model` built and compiled (masked per-token loss and metrics) under the strategy."""
    import keras

    from trainer.models import layers
    from trainer.models.registry import build_model

    with strategy.scope():  # variables (model, optimizer, metrics) mirrored on its replicas
        model = build_model(hp, vocab_size, info, backbone if hp.fine_tune_cnn else None)
        metrics = [layers.MaskedTokenMetric("nll"), layers.MaskedTokenMetric("accuracy")]
        model.compile(
            optimizer=_optimizer(hp, keras),
            loss=layers.MaskedTokenCrossEntropy(),
            metrics=metrics,
            jit_compile=False,  # XLA compilation of the unrolled decoder costs more than it saves
        )
    distribute.prepare_model(model, strategy, metrics)
    return model


def _epoch_size(model, hp: HParams, train_scan, train_pattern, train_steps: int | None):
    """(training rows, steps per epoch): `train_steps` spread over the epochs, else one pass."""
    rows = train_scan.story_rows if model.sequence_model else train_scan.image_rows
    if rows == 0:
        raise VistflowError(f"{train_pattern}: no training sentences")
    steps_per_epoch = (
        math.ceil(train_steps / hp.epochs) if train_steps else math.ceil(rows / hp.batch_size)
    )
    return rows, steps_per_epoch


def _dataset_args(model, hp: HParams, info, vocab: Vocabulary, image_size: int) -> dict:
    """`data.make_dataset`'s arguments for this model: the features it reads, rows or stories."""
    return dict(
        info=info,
        vocab=vocab,
        hparams=hp,
        sequence_model=model.sequence_model,
        needs=model.feature_inputs(),
        image_size=image_size,
    )


def _standardize(model, train_pattern, dataset_args: dict) -> dict:
    """Fit the model's per-dimension feature statistics on the training split."""
    from trainer.standardize import MAX_ROWS, fit_standardizer

    return fit_standardizer(
        model,
        data_lib.make_dataset(train_pattern, training=False, **dataset_args),
        # From pixels every row costs a CNN forward pass (ResNet-50: ~4 GFLOP): fewer rows.
        max_rows=512 if model.joint else MAX_ROWS,
    )


def _restore_warm_start(model, warm_start: str) -> None:
    from trainer import export as export_lib

    n = export_lib.restore_variables(
        warm_start, "model_variables", model.variables, [v.path for v in model.variables]
    )
    logger.info("warm start: restored %d of %d variables", n, len(model.variables))


def _validation_data(model, hp: HParams, eval_pattern, eval_steps, dataset_args, strategy):
    """(validation dataset, batches per pass): the whole eval split unless `eval_steps`."""
    if not eval_steps:
        eval_scan = data_lib.scan_text(eval_pattern, photos_per_story=hp.photos_per_story)
        eval_rows = eval_scan.story_rows if model.sequence_model else eval_scan.image_rows
        if eval_rows == 0:
            raise VistflowError(f"{eval_pattern}: no evaluation sentences")
        eval_steps = math.ceil(eval_rows / hp.batch_size)
    # Each validation pass sees the same batches (Keras keeps one validation iterator).
    return distribute.validation_data(
        data_lib.make_dataset(eval_pattern, training=False, **dataset_args), eval_steps, strategy
    )


# --- results -------------------------------------------------------------------------------------


def _training_summary(state, steps: int, rows: int, vocab_size: int, standardization) -> dict:
    """What the export records about its training (`training_summary`)."""
    return {
        "epochs": state.epochs_done,
        "steps": steps,
        "best_epoch": state.best_epoch,
        "best_val_token_nll": state.best,
        "stopped_early": state.stopped_early,
        "train_rows": rows,
        "vocab_size": vocab_size,
        "feature_standardization": standardization,
    }


def _train_result(hp: HParams, paths: _RunPaths, state, steps, vocab_size, started) -> TrainResult:
    return TrainResult(
        model=hp.model,
        out_dir=paths.out,
        export_dir=paths.export,
        epochs=state.epochs_done,
        steps=steps,
        best_epoch=state.best_epoch,
        best_val_loss=state.best,
        stopped_early=state.stopped_early,
        resumed_from_epoch=state.resumed_from,
        wall_time_s=round(time.time() - started, 2),
        vocab_size=vocab_size,
        hparams=hp,
        history=state.history,
    )


def _write_records(result: TrainResult, paths: _RunPaths, run_name: str) -> None:
    """loss.png, history.csv, train_result.json, and a row of the results CSV (if given)."""
    from trainer.callbacks import plot_history

    hp = result.hparams
    plot_history(
        result.history,
        os.path.join(paths.out, "loss.png"),
        f"{hp.model} ({hp.task}) loss per epoch",
    )
    _write(os.path.join(paths.out, "history.csv"), _history_csv(result.history))
    _write(os.path.join(paths.out, "train_result.json"), json.dumps(result.to_dict(), indent=1))
    if paths.results_csv:
        from trainer.results import append_row, train_row

        append_row(paths.results_csv, train_row(result, run_name=run_name))


def _log_done(result: TrainResult) -> None:
    logger.info(
        "%s: %d epochs, %d steps, best val NLL/token %.4f at epoch %d, %.1fs -> %s",
        result.model,
        result.epochs,
        result.steps,
        result.best_val_loss,
        result.best_epoch + 1,
        result.wall_time_s,
        result.export_dir,
    )


# --- helpers -------------------------------------------------------------------------------------


def _resolve_backbone(hp, info, train_pattern, backbone_dir):
    """(keras backbone or None, BackboneSpec or None, extractor metadata or None)."""
    from trainer import backbone as backbone_lib

    if backbone_dir == NO_BACKBONE:
        if hp.fine_tune_cnn:
            raise VistflowError("fine_tune_cnn needs a backbone: backbone_dir cannot be 'none'")
        logger.warning("backbone_dir=none: the export will only have feature signatures")
        return None, None, None
    backbone_dir = backbone_dir or backbone_lib.find_backbone_dir(train_pattern)
    if not backbone_dir:
        raise VistflowError(
            f"no backbone/ directory next to {train_pattern}: the exported image signatures need "
            "the extractor's network. Pass backbone_dir (custom_config) or backbone_dir='none' "
            "for a feature-only export"
        )
    model, spec, meta = backbone_lib.load(backbone_dir)
    if spec.global_dim != info.global_dim or (
        info.local_dim and tuple(spec.local_shape) != tuple(info.local_shape)
    ):
        raise VistflowError(
            f"{backbone_dir}: backbone {spec.name} gives global {spec.global_dim} / local "
            f"{spec.local_shape}, but {info.source} holds {info.global_dim} / {info.local_shape}"
        )
    if hp.fine_tune_cnn and not info.has_image_bytes:
        raise VistflowError(
            f"{info.source}: fine_tune_cnn trains from pixels, but the examples carry no "
            "image_bytes (run the feature extractor with image bytes kept)"
        )
    return model, spec, meta


def _optimizer(hp: HParams, keras):
    kwargs = dict(learning_rate=hp.learning_rate, clipvalue=hp.clip_value or None)
    if hp.optimizer == "adam":
        return keras.optimizers.Adam(**kwargs)
    if hp.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(**kwargs)
    return keras.optimizers.SGD(momentum=0.9, **kwargs)


def _history_csv(history: list[dict]) -> str:
    keys = sorted({k for h in history for k in h} - {"epoch"})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", *keys])
    for h in history:
        writer.writerow([h["epoch"] + 1, *(h.get(k, "") for k in keys)])
    return buf.getvalue()


def _write(path: str, text: str) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)
