"""Run the whole TFX pipeline locally with TFX's LocalDagRunner (SQLite ML Metadata).

`vistflow run --data-root DIR --pipeline-root DIR --serving-root DIR [options] [beam options]`.

Examples are validated against the schema of the backbone used (or a pinned `--schema`). On
anomalies nothing is pushed (the evaluator does not bless), the anomalies are printed and the
command exits with status 3; otherwise it says whether the model was blessed and pushed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from pipelines.config import PipelineConfig

ACCEPTS_BEAM_ARGS = True
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", required=True, help="VIST data in the official layout")
    parser.add_argument("--pipeline-root", required=True, help="TFX pipeline root (artifacts)")
    parser.add_argument("--serving-root", required=True, help="where blessed models are pushed")
    parser.add_argument("--metadata-path", default="", help="ML Metadata SQLite file")
    parser.add_argument(
        "--metadata-connection",
        default="",
        help="ML Metadata on a server instead: postgresql://user@host:port/db",
    )
    parser.add_argument("--model-name", default="vist_captioner")
    parser.add_argument("--tasks", default="sis", help="comma-separated: sis, dii")
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--weights", default="random", help="random | imagenet | weights file")
    parser.add_argument("--float16", action="store_true", help="store features as float16")
    parser.add_argument(
        "--concepts",
        action=argparse.BooleanOptionalAction,
        default=PipelineConfig.concept_pretraining,
        help="pretrain the backbone on the train split's own concepts first (default: on)",
    )
    parser.add_argument(
        "--concept-config", default="{}", help="JSON concept pretraining options (epochs, ...)"
    )
    parser.add_argument(
        "--schema",
        default="",
        help="pin a TFMD schema (pbtxt) to validate against "
        "(default: the one derived for the backbone and dtype)",
    )
    parser.add_argument("--train-steps", type=int, default=PipelineConfig.train_steps)
    parser.add_argument("--trainer-config", default="{}", help="JSON custom_config for the Trainer")
    parser.add_argument("--evaluator-config", default="{}", help="JSON CaptionEvaluator options")
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    parser.add_argument(
        "--span",
        type=int,
        default=0,
        help="span of this data partition (e.g. its date as YYYYMMDD); with a span the Trainer "
        "learns from every ingested span up to it (default 0: this run's data only)",
    )
    parser.add_argument(
        "--training-window",
        default=PipelineConfig.training_window,
        help="spans to train on: 'all' or the latest N (with --span)",
    )
    parser.add_argument(
        "--warm-start",
        action=argparse.BooleanOptionalAction,
        default=PipelineConfig.warm_start,
        help="start from the latest blessed model of earlier spans (default: on)",
    )
    parser.add_argument(
        "--holdout",
        default=PipelineConfig.holdout,
        help="fixed holdout also compared on (with --span): 'first' (oldest span), a span, 'none'",
    )
    parser.add_argument("--holdout-split", default=PipelineConfig.holdout_split)


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    fields = dict(
        data_root=args.data_root,
        pipeline_root=args.pipeline_root,
        serving_root=args.serving_root,
        metadata_path=args.metadata_path,
        metadata_connection=args.metadata_connection,
        model_name=args.model_name,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
        backbone=args.backbone,
        backbone_weights=args.weights,
        float16_features=args.float16,
        concept_pretraining=args.concepts,
        concept_config=json.loads(args.concept_config),
        schema_path=args.schema,
        train_steps=args.train_steps,
        trainer_config=json.loads(args.trainer_config),
        evaluator_config=json.loads(args.evaluator_config),
        enable_cache=not args.no_cache,
        span=args.span,
        training_window=args.training_window,
        warm_start=args.warm_start,
        holdout=args.holdout,
        holdout_split=args.holdout_split,
    )
    if args.beam_args:
        fields["beam_pipeline_args"] = tuple(args.beam_args)
    return PipelineConfig(**fields)


EXIT_ANOMALIES = 3
_REPORTED_NODES = ("ExampleValidator", "CaptionEvaluator", "Pusher")


@dataclasses.dataclass
class RunOutcome:
    """What one pipeline run decided: anomalies per split, blessing, pushed version."""

    run_id: str
    anomalies: dict[str, list[str]]
    blessed: bool | None  # None: the evaluator did not run
    blessing_message: str
    pushed: dict[str, Any]  # the Pusher's custom properties (`pushed`, `pushed_destination`...)
    error: BaseException | None = None

    @property
    def was_pushed(self) -> bool:
        return int(self.pushed.get("pushed", 0)) == 1


def run(config: PipelineConfig, run_id: str | None = None) -> RunOutcome:
    """Runs every component of the pipeline once (cached executions are reused).

    A component failure propagates, except after ExampleValidator reported anomalies (a later
    component may well fail on such data): the outcome then carries the error.
    """
    from pipelines.pipeline import create_pipeline
    from pipelines.stages import fixed_run_id_runner

    run_id = run_id or "local-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
    log.info("running pipeline %s as run %s: %s", config.pipeline_name, run_id, config.to_json())
    error = None
    try:
        fixed_run_id_runner(run_id).run(create_pipeline(config))
    except Exception as e:  # noqa: BLE001 - re-raised below unless the data explains it
        error = e
    if error is None:
        return outcome_of(config, run_id)
    try:
        outcome = outcome_of(config, run_id)
    except Exception:  # noqa: BLE001 - nothing recorded: the component's error is the news
        outcome = None
    if outcome is None or not outcome.anomalies:
        raise error
    outcome.error = error
    return outcome


def outcome_of(config: PipelineConfig, run_id: str) -> RunOutcome:
    """Reads anomalies, blessing and push of pipeline run `run_id` from ML Metadata."""
    from pipelines.airflow_tasks import anomalies_found
    from pipelines.stages import stage_outputs

    outputs, props = stage_outputs(config, run_id, _REPORTED_NODES)
    blessing = props.get("CaptionEvaluator.blessing")
    return RunOutcome(
        run_id=run_id,
        anomalies=anomalies_found(outputs.get("ExampleValidator.anomalies", [])),
        blessed=None if blessing is None else int(blessing.get("blessed", 0)) == 1,
        blessing_message=str((blessing or {}).get("blessing_message", "")),
        pushed=dict(props.get("Pusher.pushed_model", {})),
    )


def main(args: argparse.Namespace) -> int:
    from vistflow.errors import VistflowError

    outcome = run(config_from_args(args))
    if outcome.anomalies:
        for split, problems in sorted(outcome.anomalies.items()):
            for problem in problems:
                print(f"anomaly in split {split}: {problem}", file=sys.stderr)
        splits = ", ".join(sorted(outcome.anomalies))
        failed = f" ({type(outcome.error).__name__} in a later component)" if outcome.error else ""
        print(
            f"vistflow run: error: pipeline run {outcome.run_id}: ExampleValidator found "
            f"anomalies in split(s) {splits}; nothing was pushed{failed}",
            file=sys.stderr,
        )
        return EXIT_ANOMALIES
    if outcome.blessed is None:
        raise VistflowError(f"pipeline run {outcome.run_id}: the evaluator did not run")
    if outcome.was_pushed:
        print(
            f"pipeline run {outcome.run_id}: blessed and pushed to "
            f"{outcome.pushed.get('pushed_destination', '')}"
        )
    else:
        print(
            f"pipeline run {outcome.run_id}: not blessed, nothing pushed: {outcome.blessing_message}"
        )
    return 0
