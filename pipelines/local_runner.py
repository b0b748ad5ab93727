"""Run the whole TFX pipeline locally with TFX's LocalDagRunner (SQLite ML Metadata).

`vistflow run --data-root DIR --pipeline-root DIR --serving-root DIR [options] [beam options]`.
"""

from __future__ import annotations

import argparse
import json
import logging

from pipelines.config import PipelineConfig

ACCEPTS_BEAM_ARGS = True
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", required=True, help="VIST data in the official layout")
    parser.add_argument("--pipeline-root", required=True, help="TFX pipeline root (artifacts)")
    parser.add_argument("--serving-root", required=True, help="where blessed models are pushed")
    parser.add_argument("--metadata-path", default="", help="ML Metadata SQLite file")
    parser.add_argument("--model-name", default="vist_captioner")
    parser.add_argument("--tasks", default="sis", help="comma-separated: sis, dii")
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--weights", default="random", help="random | imagenet | weights file")
    parser.add_argument("--train-steps", type=int, default=PipelineConfig.train_steps)
    parser.add_argument("--trainer-config", default="{}", help="JSON custom_config for the Trainer")
    parser.add_argument("--evaluator-config", default="{}", help="JSON CaptionEvaluator options")
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    fields = dict(
        data_root=args.data_root,
        pipeline_root=args.pipeline_root,
        serving_root=args.serving_root,
        metadata_path=args.metadata_path,
        model_name=args.model_name,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
        backbone=args.backbone,
        backbone_weights=args.weights,
        train_steps=args.train_steps,
        trainer_config=json.loads(args.trainer_config),
        evaluator_config=json.loads(args.evaluator_config),
        enable_cache=not args.no_cache,
    )
    if args.beam_args:
        fields["beam_pipeline_args"] = tuple(args.beam_args)
    return PipelineConfig(**fields)


def run(config: PipelineConfig) -> None:
    """Runs every component of the pipeline once (cached executions are reused)."""
    from tfx import v1 as tfx

    from pipelines.pipeline import create_pipeline

    log.info("running pipeline %s: %s", config.pipeline_name, config.to_json())
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config))


def main(args: argparse.Namespace) -> int:
    run(config_from_args(args))
    return 0
