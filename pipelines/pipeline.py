"""The vistflow TFX pipeline: one pure `create_pipeline(config)` shared by every runner.

    VistExampleGen -> FeatureExtractor (examples, schema) -> StatisticsGen -> ExampleValidator
        -> Trainer -> (latest blessed model resolver) -> CaptionEvaluator -> Pusher

The schema follows the backbone: the FeatureExtractor writes the checked-in schema with the
dims, ranges and domains of the backbone and storage dtype it used. A pinned schema
(`config.schema_path`) comes in through ImportSchemaGen instead, so features that differ from it
are anomalies. The CaptionEvaluator reads the ExampleValidator's anomalies and never blesses a
model when there are any, so a single `LocalDagRunner` run pushes nothing on anomalous data,
as the Airflow DAG (which stops at its `validate` gate) does.

Node ids are the components' default ids, which `pipelines.stages.STAGES` refers to.
"""

from __future__ import annotations

from tfx import v1 as tfx

from components.atomic_pusher.component import create_pusher
from components.caption_evaluator.component import CaptionEvaluator
from components.feature_extractor.component import FeatureExtractor
from components.vist_example_gen.component import VistExampleGen
from pipelines.config import PipelineConfig

TRAINER_RUN_FN = "trainer.run.run_fn"


def create_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
    """Builds the pipeline for `config` (no side effects)."""
    example_gen = VistExampleGen(
        data_root=config.data_root, format=config.data_format, tasks=",".join(config.tasks)
    )
    features = FeatureExtractor(
        examples=example_gen.outputs["examples"],
        backbone=config.backbone,
        weights=config.backbone_weights,
        seed=config.backbone_seed,
        dtype="float16" if config.float16_features else "float32",
        store_images=config.store_images,
    )
    schema_gen = None
    schema = features.outputs["schema"]
    if config.schema_path:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=config.schema_path)
        schema = schema_gen.outputs["schema"]
    statistics_gen = tfx.components.StatisticsGen(
        examples=features.outputs["examples"], schema=schema
    )
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    trainer = tfx.components.Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=features.outputs["examples"],
        schema=schema,
        train_args=tfx.proto.TrainArgs(
            splits=list(config.train_splits), num_steps=config.train_steps
        ),
        eval_args=tfx.proto.EvalArgs(splits=list(config.eval_splits), num_steps=config.eval_steps),
        custom_config=dict(config.trainer_config),
    )
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = CaptionEvaluator(
        examples=features.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        anomalies=example_validator.outputs["anomalies"],
        eval_split=config.eval_splits[0],
        **dict(config.evaluator_config),
    )
    pusher = create_pusher(
        trainer.outputs["model"],
        evaluator.outputs["blessing"],
        config.serving_root,
        config.model_name,
    )
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[
            c
            for c in (
                example_gen,
                features,
                schema_gen,
                statistics_gen,
                example_validator,
                trainer,
                model_resolver,
                evaluator,
                pusher,
            )
            if c is not None
        ],
        enable_cache=config.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path
        ),
        beam_pipeline_args=list(config.beam_pipeline_args),
    )
