"""TaskFlow pieces shared by the vistflow DAGs. Imports only Airflow: DAG parsing stays cheap."""

from __future__ import annotations

from datetime import timedelta

from airflow.decorators import task

STAGE_TIMEOUT = timedelta(hours=6)


def wait_for(kind: str):
    """A sensor task that waits for <home>/<kind>/<ds>/_SUCCESS."""

    @task.sensor(
        task_id=f"wait_for_{'partition' if kind == 'landing' else 'collection'}",
        poke_interval=300,
        timeout=24 * 3600,
        mode="reschedule",
    )
    def wait(ds: str | None = None) -> bool:
        from pipelines import airflow_tasks as t

        return t.partition_ready(t.partition_dir(t.vistflow_home(), kind, ds))

    return wait


def stage(name: str):
    """A task running one TFX pipeline stage for the run's partition; returns its summary."""

    @task(task_id=name, execution_timeout=STAGE_TIMEOUT)
    def run(ds: str | None = None, run_id: str | None = None, params=None) -> dict:
        from pipelines import airflow_tasks as t

        return t.run_pipeline_stage(
            name, dag_run_id=run_id, ds=ds, conf=params["pipeline_overrides"]
        )

    return run


def gate(name: str, check):
    """Like `stage`, but short-circuits the rest of the run when `check(summary)` fails."""

    @task.short_circuit(task_id=name, execution_timeout=STAGE_TIMEOUT)
    def run(ds: str | None = None, run_id: str | None = None, params=None) -> bool:
        import logging

        from pipelines import airflow_tasks as t

        summary = t.run_pipeline_stage(
            name, dag_run_id=run_id, ds=ds, conf=params["pipeline_overrides"]
        )
        ok, reason = check(summary)
        log = logging.getLogger("vistflow")
        if ok:
            log.info("%s gate: passed (%s)", name, reason)
        else:
            log.warning("%s gate: the run ends here, nothing is pushed: %s", name, reason)
        return ok

    return run
