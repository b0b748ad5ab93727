"""TFX Trainer entry point: `Trainer(module_file=..., custom_config={...})` calls `run_fn`.

Follows the penguin/taxi template: inputs from `fn_args.train_files` / `fn_args.eval_files`
(gzipped feature SequenceExamples), hyperparameters from `fn_args.custom_config`
(trainer/hparams.py; plus the run keys below), TensorBoard logs in `fn_args.model_run_dir`,
the SavedModel in `fn_args.serving_model_dir`, `fn_args.base_model` as warm start.

custom_config run keys:
  results_csv     append one row per run here (e.g. `<pipeline_root>/results.csv`)
  checkpoint_dir  where per-epoch checkpoints live; default `<model_run_dir>/checkpoints`.
                  Set a stable path to resume a killed Trainer in a new TFX execution
                  (each execution gets fresh artifact URIs).
  backbone_dir    the extractor's `backbone/` (default: next to the training examples);
                  "none" = feature signatures only
  warm_start      a previous vistflow export to start from (overrides fn_args.base_model)
  run_name        label of the results row (default: the model run directory name)
  training_data   set by the pipeline's Trainer executor (pipelines/trainer_executor.py): the
                  spans of the examples, train stories per span and the warm-start base model;
                  written to `<model_run_dir>/training_data.json` and the results CSV row
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from trainer.hparams import HParams

logger = logging.getLogger(__name__)

TRAINING_DATA_KEY = "training_data"
TRAINING_DATA_FILE = "training_data.json"


def run_fn(fn_args: Any) -> None:
    """Train and export the model described by `fn_args` (a tfx.components.FnArgs)."""
    import tensorflow as tf

    from trainer import results
    from trainer.train import train

    config = dict(fn_args.custom_config or {})
    data = config.pop(TRAINING_DATA_KEY, None) or {}
    hparams = HParams.from_config(config)
    warm_start = config.get("warm_start") or getattr(fn_args, "base_model", None) or None
    model_run_dir = fn_args.model_run_dir
    if data:
        data = dict(data, warm_start_from=warm_start or "")
        logger.info(
            "training on spans %s (%d train stories), warm start from %s",
            data.get("spans"),
            data.get("train_stories", 0),
            warm_start or "nothing",
        )
        tf.io.gfile.makedirs(model_run_dir)
        with tf.io.gfile.GFile(os.path.join(model_run_dir, TRAINING_DATA_FILE), "w") as f:
            f.write(json.dumps(data, indent=1, sort_keys=True))
    result = train(
        fn_args.train_files,
        fn_args.eval_files,
        model_run_dir,
        hparams,
        export_dir=fn_args.serving_model_dir,
        log_dir=model_run_dir,  # TFX's ModelRun artifact is what TensorBoard is pointed at
        checkpoint_dir=config.get("checkpoint_dir") or None,
        train_steps=getattr(fn_args, "train_steps", None) or None,
        eval_steps=getattr(fn_args, "eval_steps", None) or None,
        warm_start=warm_start,
        backbone_dir=config.get("backbone_dir") or None,
        results_csv=None,  # appended below, with the training window's columns
        run_name=config.get("run_name", ""),
    )
    if config.get("results_csv"):
        results.append_row(
            config["results_csv"],
            results.train_row(
                result,
                run_name=config.get("run_name", ""),
                train_spans=json.dumps(data.get("spans", [])) if data else "",
                train_stories=data.get("train_stories", "") if data else "",
                warm_start_from=warm_start or "",
            ),
        )
    logger.info("run_fn done: %s", {k: v for k, v in result.to_dict().items() if k != "history"})
