"""The vistflow TFX pipeline: one pure `create_pipeline(config)` shared by every runner.

    VistExampleGen -> ConceptPretrainer -> FeatureExtractor (examples, schema)
        -> StatisticsGen -> ExampleValidator
        -> (training window, warm start resolvers) -> Trainer
        -> (latest blessed model, holdout resolvers) -> CaptionEvaluator -> Pusher

Concept pretraining (`config.concept_pretraining`, on by default; reference 001): the backbone,
from `backbone_weights`, learns the train split's own visual concepts (the words its captions use)
before the FeatureExtractor extracts with it, so features tell the data's things apart even when
no ImageNet weights are at hand.

Spans (`config.span` > 0: one landed partition, one span): VistExampleGen ingests only this
partition and records its span on the Examples; the FeatureExtractor's Examples carry it. The
Trainer learns from the window of spans up to this one (`training_window`, resolved in ML
Metadata, so old partitions are never re-ingested), warm-started from the latest blessed model
of earlier spans (`warm_start`), and the evaluator compares candidate and that model on this
span's eval split and on a fixed holdout (`holdout`: the oldest span's test split by default).
Every resolver is bounded by the run's span, so re-running an old partition resolves the same
inputs and reuses its cached executions. With `span` 0 the Trainer sees this run's data only.

The schema follows the backbone: the FeatureExtractor writes the checked-in schema with the
dims, ranges and domains of the backbone and storage dtype it used. A pinned schema
(`config.schema_path`) comes in through ImportSchemaGen instead, so features that differ from it
are anomalies. The CaptionEvaluator reads the ExampleValidator's anomalies and never blesses a
model when there are any, so a single `LocalDagRunner` run pushes nothing on anomalous data,
as the Airflow DAG (which stops at its `validate` gate) does.

Node ids are the components' default ids, which `pipelines.stages.STAGES` refers to.
"""

from __future__ import annotations

# Not `tfx.v1`: it also imports the Google Cloud extensions (google.cloud.aiplatform), ~4 s of
# every Airflow task's start-up for nothing this pipeline uses.
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components.atomic_pusher.component import create_pusher
from components.caption_evaluator.component import CaptionEvaluator
from components.concept_pretrainer.component import ConceptPretrainer
from components.feature_extractor.component import FeatureExtractor
from components.vist_example_gen.component import VistExampleGen
from pipelines import trainer_executor
from pipelines.config import PipelineConfig
from pipelines.metadata_config import connection_config
from pipelines.span_resolvers import (
    BlessedModelBeforeSpanStrategy,
    ModelBeforeSpanStrategy,
    SpanWindowStrategy,
)

TRAINER_RUN_FN = "trainer.run.run_fn"
WINDOW_RESOLVER = "training_window_resolver"
WARM_START_RESOLVER = "warm_start_model_resolver"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
HOLDOUT_RESOLVER = "holdout_examples_resolver"
CONCEPT_RESOLVER = "concept_model_resolver"


def _blessed_model_resolver(node_id: str, config: PipelineConfig) -> Resolver:
    """The latest blessed model trained on spans before this run's (any, when unspanned)."""
    return Resolver(
        strategy_class=BlessedModelBeforeSpanStrategy,
        config={"before_span": config.span},
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(node_id)


def _span_resolver(node_id: str, features: FeatureExtractor, **strategy) -> Resolver:
    """Examples of earlier runs' FeatureExtractor (every span in ML Metadata), chosen by span."""
    resolver = Resolver(
        strategy_class=SpanWindowStrategy,
        config=strategy,
        # A plain Channel by producer id: every run's output, not only this run's.
        examples=Channel(
            type=standard_artifacts.Examples,
            producer_component_id=features.id,
            output_key="examples",
        ),
    ).with_id(node_id)
    resolver.add_upstream_node(features)  # after this run's span is in ML Metadata
    return resolver


def evaluator_signature(config: PipelineConfig) -> str:
    """The export signature the CaptionEvaluator decodes with, unless `evaluator_config` names one:
    SIS runs are scored as the `story` signature serves them (for a per-image model,
    `from_features` would caption each photo alone, which nothing serves)."""
    from trainer.export import scoring_signature

    return scoring_signature(
        stories="sis" in config.tasks,
        joint=bool(dict(config.trainer_config).get("fine_tune_cnn")),
    )


def create_pipeline(config: PipelineConfig) -> Pipeline:
    """Builds the pipeline for `config` (no side effects)."""
    example_gen = VistExampleGen(
        data_root=config.data_root,
        format=config.data_format,
        tasks=",".join(config.tasks),
        span=config.span,
    )
    concepts = earlier_concepts = None
    if config.concept_pretraining and config.span:
        # The concept backbone of an earlier span, reused: one network for every span's features.
        earlier_concepts = Resolver(
            strategy_class=ModelBeforeSpanStrategy,
            config={"before_span": config.span},
            model=Channel(
                type=standard_artifacts.Model,
                producer_component_id="ConceptPretrainer",
                output_key="model",
            ),
        ).with_id(CONCEPT_RESOLVER)
    if config.concept_pretraining:
        concepts = ConceptPretrainer(
            examples=example_gen.outputs["examples"],
            base_model=earlier_concepts.outputs["model"] if earlier_concepts else None,
            backbone=config.backbone,
            weights=config.backbone_weights,
            seed=config.backbone_seed,
            config=dict(config.concept_config),
        )
    features = FeatureExtractor(
        examples=example_gen.outputs["examples"],
        backbone_model=concepts.outputs["model"] if concepts else None,
        backbone=config.backbone,
        weights=config.backbone_weights,
        seed=config.backbone_seed,
        dtype="float16" if config.float16_features else "float32",
        store_images=config.store_images,
    )
    schema_gen = None
    schema = features.outputs["schema"]
    if config.schema_path:
        schema_gen = ImportSchemaGen(schema_file=config.schema_path)
        schema = schema_gen.outputs["schema"]
    statistics_gen = StatisticsGen(examples=features.outputs["examples"], schema=schema)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    window = holdout = None
    train_examples = features.outputs["examples"]
    if config.span:
        window = _span_resolver(
            WINDOW_RESOLVER,
            features,
            max_span=config.span,
            num_spans=config.window_spans(),
            splits=sorted({*config.train_splits, *config.eval_splits}),
        )
        train_examples = window.outputs["examples"]
        holdout_span = config.holdout_span()
        if holdout_span is not None:
            holdout = _span_resolver(
                HOLDOUT_RESOLVER,
                features,
                max_span=config.span,
                oldest=holdout_span == 0,
                span=holdout_span,
                splits=[config.holdout_split],
            )
    warm_start = _blessed_model_resolver(WARM_START_RESOLVER, config) if config.warm_start else None
    trainer = trainer_executor.Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=train_examples,
        base_model=warm_start.outputs["model"] if warm_start else None,
        schema=schema,
        train_args=trainer_pb2.TrainArgs(
            splits=list(config.train_splits), num_steps=config.train_steps
        ),
        eval_args=trainer_pb2.EvalArgs(
            splits=list(config.eval_splits), num_steps=config.eval_steps
        ),
        custom_config=dict(config.trainer_config),
    )
    model_resolver = _blessed_model_resolver(BASELINE_RESOLVER, config)
    evaluator = CaptionEvaluator(
        examples=features.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        anomalies=example_validator.outputs["anomalies"],
        holdout_examples=holdout.outputs["examples"] if holdout else None,
        eval_split=config.eval_splits[0],
        holdout_split=config.holdout_split,
        **{"signature_name": evaluator_signature(config), **dict(config.evaluator_config)},
    )
    pusher = create_pusher(
        trainer.outputs["model"],
        evaluator.outputs["blessing"],
        config.serving_root,
        config.model_name,
    )
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[
            c
            for c in (
                example_gen,
                earlier_concepts,
                concepts,
                features,
                schema_gen,
                statistics_gen,
                example_validator,
                window,
                warm_start,
                trainer,
                model_resolver,
                holdout,
                evaluator,
                pusher,
            )
            if c is not None
        ],
        enable_cache=config.enable_cache,
        metadata_connection_config=connection_config(config.metadata_spec()),
        beam_pipeline_args=list(config.beam_pipeline_args),
    )
