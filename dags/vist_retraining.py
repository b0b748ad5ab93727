"""Scheduled retraining: new VIST data partition -> TFX pipeline, one Airflow task per stage.

Each stage task runs its part of the same TFX pipeline (a partial run that snapshots the previous
stage's pipeline run), so ML Metadata lineage covers the whole DAG run and a failed stage retries
alone. Validation anomalies or a model the evaluator does not bless end the run cleanly (the
gating task short-circuits, its reason is logged and written to <home>/runs/<ds>.json) and
nothing is pushed. Heavy imports live in `pipelines.airflow_tasks`, inside the tasks.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.decorators import dag, task

# Retries of a failed task; `VISTFLOW_DAG_RETRIES=0` makes demos and tests fail fast.
RETRIES = int(os.environ.get("VISTFLOW_DAG_RETRIES", "2"))

STAGE_TIMEOUT = timedelta(hours=6)


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
    @task.sensor(poke_interval=300, timeout=24 * 3600, mode="reschedule")
    def wait_for_partition(ds: str | None = None) -> bool:
        from pipelines import airflow_tasks as t

        path = t.partition_dir(t.vistflow_home(), "landing", ds)
        return t.partition_ready(path)

    def stage(name: str):
        @task(task_id=name, execution_timeout=STAGE_TIMEOUT)
        def run(ds: str | None = None, run_id: str | None = None, params=None) -> dict:
            from pipelines import airflow_tasks as t

            return t.run_pipeline_stage(
                name, dag_run_id=run_id, ds=ds, conf=params["pipeline_overrides"]
            )

        return run

    def gate(name: str, check):
        @task.short_circuit(task_id=name, execution_timeout=STAGE_TIMEOUT)
        def run(ds: str | None = None, run_id: str | None = None, params=None) -> bool:
            import logging

            from pipelines import airflow_tasks as t

            summary = t.run_pipeline_stage(
                name, dag_run_id=run_id, ds=ds, conf=params["pipeline_overrides"]
            )
            ok, reason = check(summary)
            logging.getLogger("vistflow").info("%s gate: %s (%s)", name, ok, reason)
            return ok

        return run

    def no_anomalies(summary: dict) -> tuple[bool, str]:
        found = summary["anomalies"]
        return (not found, f"anomalies: {found}" if found else "no anomalies")

    def blessed(summary: dict) -> tuple[bool, str]:
        return (summary["blessed"], f"blessing at {summary['blessing_uri']}")

    (
        wait_for_partition()
        >> stage("ingest")()
        >> stage("features")()
        >> gate("validate", no_anomalies)()
        >> stage("train")()
        >> gate("evaluate", blessed)()
        >> stage("push")()
    )


vist_retraining()
