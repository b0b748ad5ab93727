"""Scheduled retraining: new VIST data partition -> TFX pipeline, one Airflow task per stage.

Stages: ingest, concept pretraining of the backbone on the partition's own captions (reference
001; off with `concept_pretraining: false`), features, validation, training, evaluation, push.
Each week's partition is ingested once, as span YYYYMMDD of its logical date. The Trainer learns
from the window of spans up to this one (`training_window`, default all), warm-started from the
latest blessed model of earlier spans (`warm_start`), and the evaluator compares candidate and
that model on this week's val split and on a fixed holdout (`holdout`, default the oldest span's
test split). Set them in <home>/pipeline_config.json or per run with
`--conf '{"pipeline_overrides": {...}}'`. Re-running an old week resolves what it resolved the
first time: cached executions, nothing new pushed.

Each stage task runs its part of the same TFX pipeline (a partial run that snapshots the previous
stage's pipeline run), so ML Metadata lineage covers the whole DAG run and a failed stage retries
alone. A partition without the splits training needs (`train_splits`, `eval_splits`; the
missing split files are named), validation anomalies or a model the evaluator does not bless
end the run cleanly (the gating task short-circuits, its reason is logged and written to
<home>/runs/vist_retraining/<ds>.json) and nothing is pushed. Heavy imports live in `pipelines.airflow_tasks`, inside the tasks.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.decorators import dag

from pipelines.airflow_dag_parts import gate, stage, wait_for

# Retries of a failed task; `VISTFLOW_DAG_RETRIES=0` makes demos and tests fail fast.
RETRIES = int(os.environ.get("VISTFLOW_DAG_RETRIES", "2"))


@dag(
    dag_id="vist_retraining",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # runs share one ML Metadata store and serving root
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5), "owner": "vistflow"},
    params={"pipeline_overrides": {}},
    tags=["vistflow", "training"],
    doc_md=__doc__,
)
def vist_retraining():
    def has_needed_splits(summary: dict) -> tuple[bool, str]:
        return (not summary["missing_splits"], summary["splits_message"])

    def no_anomalies(summary: dict) -> tuple[bool, str]:
        found = summary["anomalies"]
        return (not found, f"anomalies: {found}" if found else "no anomalies")

    def blessed(summary: dict) -> tuple[bool, str]:
        return (summary["blessed"], f"blessing at {summary['blessing_uri']}")

    (
        wait_for("landing")()
        >> gate("ingest", has_needed_splits)()
        >> stage("concepts")()
        >> stage("features")()
        >> gate("validate", no_anomalies)()
        >> stage("train")()
        >> gate("evaluate", blessed)()
        >> stage("push")()
    )


vist_retraining()
