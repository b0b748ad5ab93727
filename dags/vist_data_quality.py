"""Data-quality report of newly landed VIST data: ingest + features + validation, no training.

Runs the stages before training of the same TFX pipeline the retraining DAG runs (ingest,
concept pretraining when the config has it, features, validation; so a later
retraining of the same partition reuses these executions from the ML Metadata cache) and copies
the data-quality report, the rejects and the validation anomalies to <home>/quality/<ds>/.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.decorators import dag, task

from pipelines.airflow_dag_parts import stage, wait_for

# Retries of a failed task; `VISTFLOW_DAG_RETRIES=0` makes demos and tests fail fast.
RETRIES = int(os.environ.get("VISTFLOW_DAG_RETRIES", "2"))


@dag(
    dag_id="vist_data_quality",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5), "owner": "vistflow"},
    params={"pipeline_overrides": {}},
    tags=["vistflow", "data-quality"],
    doc_md=__doc__,
)
def vist_data_quality():
    @task
    def publish_report(ingest: dict, validate: dict, ds: str | None = None) -> str:
        from pipelines import airflow_tasks as t

        return str(t.publish_quality_report(ds, ingest, validate))

    ingest = stage("ingest")()
    concepts = stage("concepts")()
    features = stage("features")()
    validate = stage("validate")()
    wait_for("landing")() >> ingest >> concepts >> features >> validate
    publish_report(ingest, validate)


vist_data_quality()
