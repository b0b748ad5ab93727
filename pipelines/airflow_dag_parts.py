"""TaskFlow pieces shared by the vistflow DAGs. Imports only Airflow: DAG parsing stays cheap."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.decorators import task

STAGE_TIMEOUT = timedelta(hours=6)


# How long a run waits for its partition before it ends as skipped (soft fail), so a partition
# that never lands neither fails the run nor holds the DAG's only active run for a day.
PARTITION_TIMEOUT = timedelta(
    seconds=float(os.environ.get("VISTFLOW_PARTITION_TIMEOUT_S", 6 * 3600))
)
POKE_INTERVAL = float(os.environ.get("VISTFLOW_POKE_INTERVAL_S", 300))


def wait_for(kind: str):
    """A sensor task that waits for <home>/<kind>/<ds>/_SUCCESS, then skips the run on timeout."""

    @task.sensor(
        task_id=f"wait_for_{'partition' if kind == 'landing' else 'collection'}",
        poke_interval=POKE_INTERVAL,
        timeout=PARTITION_TIMEOUT.total_seconds(),
        mode="reschedule",  # frees the worker slot between pokes
        soft_fail=True,  # timed out: SKIPPED (and every downstream task), not FAILED
    )
    def wait(ds: str | None = None) -> bool:
        import logging

        from pipelines import airflow_tasks as t

        where = t.partition_dir(t.vistflow_home(), kind, ds)
        ready = t.partition_ready(where)
        if not ready:
            logging.getLogger("vistflow").info(
                "%s has no _SUCCESS yet; the run is skipped if it has none after %s",
                where,
                PARTITION_TIMEOUT,
            )
        return ready

    return wait


def stage(name: str):
    """A task running one TFX pipeline stage for the run's partition; returns its summary."""

    @task(task_id=name, execution_timeout=STAGE_TIMEOUT)
    def run(ds: str | None = None, run_id: str | None = None, params=None, dag=None) -> dict:
        from pipelines import airflow_tasks as t

        return t.run_pipeline_stage(
            name, dag_run_id=run_id, ds=ds, conf=params["pipeline_overrides"], dag_id=dag.dag_id
        )

    return run


def gate(name: str, check):
    """Like `stage`, but short-circuits the rest of the run when `check(summary)` fails."""

    @task.short_circuit(task_id=name, execution_timeout=STAGE_TIMEOUT)
    def run(ds: str | None = None, run_id: str | None = None, params=None, dag=None) -> bool:
        import logging

        from pipelines import airflow_tasks as t

        summary = t.run_pipeline_stage(
            name, dag_run_id=run_id, ds=ds, conf=params["pipeline_overrides"], dag_id=dag.dag_id
        )
        ok, reason = check(summary)
        log = logging.getLogger("vistflow")
        if ok:
            log.info("%s gate: passed (%s)", name, reason)
        else:
            log.warning("%s gate: the run ends here, nothing is pushed: %s", name, reason)
        return ok

    return run
