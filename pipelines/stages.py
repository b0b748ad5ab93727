"""Run one stage of the vistflow TFX pipeline as a partial run of the whole pipeline.

Airflow runs the pipeline as one task per stage. Each task compiles the SAME pipeline and runs
only its stage's nodes (TFX partial run); upstream nodes are snapshotted from the previous
stage's pipeline run, so ML Metadata lineage spans the whole DAG run and a failed stage retries
alone. Pipeline run ids are derived from the Airflow run id and the stage name, so a retried or
re-run task lands in the same TFX run and (with caching on) reuses finished executions instead of
duplicating outputs.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from pipelines.config import PipelineConfig

log = logging.getLogger(__name__)

# Stage -> node ids of the pipeline, in pipeline order. Node ids are the component ids that
# `pipelines.pipeline.create_pipeline` assigns; a stage runs those the pipeline has
# (ImportSchemaGen only when the config pins a schema, the span resolvers only for a span).
STAGES: dict[str, tuple[str, ...]] = {
    "ingest": ("VistExampleGen",),
    "concepts": ("concept_model_resolver", "ConceptPretrainer"),
    "features": ("FeatureExtractor",),
    "validate": ("StatisticsGen", "ImportSchemaGen", "ExampleValidator"),
    "train": ("training_window_resolver", "warm_start_model_resolver", "Trainer"),
    "evaluate": ("latest_blessed_model_resolver", "holdout_examples_resolver", "CaptionEvaluator"),
    "push": ("Pusher",),
}
STAGE_ORDER = tuple(STAGES)


def base_stage(stage: str, config: PipelineConfig) -> str | None:
    """The nearest earlier stage with nodes in `config`'s pipeline (whose run `stage` snapshots).

    A stage the config leaves empty (`concepts` without concept pretraining) runs no pipeline
    run of its own, so the next stage builds on the one before it.
    """
    from pipelines.pipeline import create_pipeline

    pipeline = create_pipeline(config)
    for earlier in reversed(STAGE_ORDER[: STAGE_ORDER.index(stage)]):
        if stage_nodes(earlier, pipeline):
            return earlier
    return None


def stage_run_id(dag_run_id: str, stage: str, dag_id: str = "") -> str:
    """The TFX pipeline-run id of one stage of one Airflow DAG run (deterministic).

    With the DAG id: two DAGs running the same stage for the same date (retraining and data
    quality) get their own pipeline runs and lineage; cached executions are still shared.
    """
    return f"{dag_id}.{dag_run_id}.{stage}" if dag_id else f"{dag_run_id}.{stage}"


@dataclasses.dataclass
class StageResult:
    stage: str
    run_id: str
    outputs: dict[str, list[str]]  # "<node>.<output key>" -> artifact URIs
    # "<node>.<output key>" -> properties (e.g. split_names) and custom properties of the last
    properties: dict[str, dict[str, Any]]


def fixed_run_id_runner(run_id: str):
    """A LocalDagRunner whose pipeline-run id is `run_id` instead of `datetime.now()`."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration.local import local_dag_runner
    from tfx.orchestration.portable import runtime_parameter_utils

    from pipelines import tfx_fixes

    tfx_fixes.apply()  # cached outputs keyed right on PostgreSQL ML Metadata

    class Runner(local_dag_runner.LocalDagRunner):
        def run_with_ir(self, pipeline, run_options=None, **kwargs):
            # Substitution is idempotent: LocalDagRunner's own now() no longer applies.
            runtime_parameter_utils.substitute_runtime_parameter(
                pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
            )
            return super().run_with_ir(pipeline, run_options=run_options, **kwargs)

    return Runner()


def run_stage(
    stage: str, config: PipelineConfig, *, run_id: str, base_run_id: str | None = None
) -> StageResult:
    """Runs `stage`'s nodes; upstream artifacts come from pipeline run `base_run_id`."""
    from pipelines.pipeline import create_pipeline

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGE_ORDER)}")
    pipeline = create_pipeline(config)
    nodes = stage_nodes(stage, pipeline)
    if not nodes:
        log.info("stage %s: no nodes in this pipeline (config), nothing to run", stage)
        return StageResult(stage=stage, run_id=run_id, outputs={}, properties={})
    index = STAGE_ORDER.index(stage)
    if index > 0 and not base_run_id:
        raise ValueError(f"stage {stage!r} needs the pipeline run id of the previous stage")
    log.info(
        "stage %s: running nodes %s as pipeline run %s (base %s)", stage, nodes, run_id, base_run_id
    )
    runner = fixed_run_id_runner(run_id)
    if index == 0:
        # Nothing upstream to snapshot. A plain partial run would still snapshot the *latest*
        # pipeline run and make it this run's parent, which becomes a parent-context cycle in
        # ML Metadata when an interval is re-run: mark the IR ourselves, without a snapshot.
        runner.run_with_ir(_first_stage_ir(pipeline, nodes))
    else:
        runner.run(pipeline, run_options=_run_options(nodes, base_run_id))
    outputs, properties = stage_outputs(config, run_id, nodes)
    return StageResult(stage=stage, run_id=run_id, outputs=outputs, properties=properties)


def stage_nodes(stage: str, pipeline) -> tuple[str, ...]:
    """The node ids of `stage` that `pipeline` holds."""
    present = {component.id for component in pipeline.components}
    return tuple(node for node in STAGES[stage] if node in present)


def _first_stage_ir(pipeline, nodes: tuple[str, ...]):
    from tfx.dsl.compiler import compiler
    from tfx.orchestration.portable import partial_run_utils

    ir = compiler.Compiler().compile(pipeline)
    partial_run_utils.mark_pipeline(ir, from_nodes=list(nodes), to_nodes=list(nodes))
    for node in ir.nodes:
        options = node.pipeline_node.execution_options
        if options.HasField("run"):  # `run` and `skip` are a oneof: touch only nodes that run
            options.run.perform_snapshot = False
    return ir


def _run_options(nodes: tuple[str, ...], base_run_id: str | None):
    # Every node of the stage is both a source and a sink: a stage may hold nodes that are not
    # downstream of its first node (ImportSchemaGen beside StatisticsGen), which a plain
    # first-to-last range would skip and try to snapshot from a run where they never ran.
    # RunOptions is not in the public v1 API in TFX 1.16; LocalDagRunner.run accepts it.
    from tfx.orchestration import pipeline as pipeline_lib

    return pipeline_lib.RunOptions(
        from_nodes=list(nodes), to_nodes=list(nodes), base_pipeline_run_id=base_run_id
    )


def stage_outputs(
    config: PipelineConfig, run_id: str, nodes: tuple[str, ...]
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """The output artifacts each node published in pipeline run `run_id` (from ML Metadata)."""
    from ml_metadata import metadata_store
    from tfx.dsl.compiler import constants

    from pipelines.metadata_config import connection_config, redacted

    store = metadata_store.MetadataStore(connection_config(config.metadata_spec()))
    run_ctx = store.get_context_by_type_and_name(constants.PIPELINE_RUN_CONTEXT_TYPE_NAME, run_id)
    if run_ctx is None:
        raise RuntimeError(f"no pipeline run {run_id!r} in {redacted(config.metadata_spec())}")
    outputs: dict[str, list[str]] = {}
    properties: dict[str, dict[str, Any]] = {}
    run_execution_ids = {e.id for e in store.get_executions_by_context(run_ctx.id)}
    for node in nodes:
        node_ctx = store.get_context_by_type_and_name(
            constants.NODE_CONTEXT_TYPE_NAME, f"{config.pipeline_name}.{node}"
        )
        if node_ctx is None:
            continue
        executions = [
            e for e in store.get_executions_by_context(node_ctx.id) if e.id in run_execution_ids
        ]
        if not executions:
            continue
        latest = max(executions, key=lambda e: (e.create_time_since_epoch, e.id))
        events = store.get_events_by_execution_ids([latest.id])
        out_events = [ev for ev in events if ev.type in (ev.OUTPUT, ev.DECLARED_OUTPUT)]
        artifacts = {
            a.id: a for a in store.get_artifacts_by_id([ev.artifact_id for ev in out_events])
        }
        for ev in out_events:
            key = ev.path.steps[0].key if ev.path.steps else "output"
            art = artifacts[ev.artifact_id]
            outputs.setdefault(f"{node}.{key}", []).append(art.uri)
            properties[f"{node}.{key}"] = {
                k: _value(v) for k, v in (*art.properties.items(), *art.custom_properties.items())
            }
    return outputs, properties


def _value(v) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None
