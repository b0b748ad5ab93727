"""Batch captioning: caption a newly landed image collection with the latest pushed model.

Waits for <home>/collections/<ds>/_SUCCESS, then runs the Beam batch-captioning job over it with
the highest complete model version under <home>/serving/<model>/, writing
<home>/captions/<ds>/captions.jsonl and rejects.jsonl. A retry resumes: images already
captioned are skipped and no line is duplicated. A run cleared after a newer model was pushed
captions the partition again with it (param `restart_with_new_model`; off: the task fails
naming both models); captions of two models are never mixed.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.decorators import dag, task

from pipelines.airflow_dag_parts import wait_for

# Retries of a failed task; `VISTFLOW_DAG_RETRIES=0` makes demos and tests fail fast.
RETRIES = int(os.environ.get("VISTFLOW_DAG_RETRIES", "2"))


@dag(
    dag_id="vist_batch_captioning",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5), "owner": "vistflow"},
    # `*.*`: every file with an extension, so the `_SUCCESS` marker is not taken for an image.
    params={
        "model_name": "vist_captioner",
        "pattern": "*.*",
        "beam_args": [],
        # A run cleared after a new push captions its partition again with the new model.
        "restart_with_new_model": True,
    },
    tags=["vistflow", "batch"],
    doc_md=__doc__,
)
def vist_batch_captioning():
    @task
    def resolve_model(params=None) -> str:
        from pipelines import airflow_tasks as t

        model = t.latest_pushed_model(t.vistflow_home(), params["model_name"])
        if model is None:
            raise FileNotFoundError(f"no pushed model {params['model_name']!r} to caption with")
        return str(model)

    @task
    def caption_collection(model_dir: str, ds: str | None = None, params=None) -> dict:
        from pipelines import airflow_tasks as t

        return t.batch_caption(
            model_dir,
            ds,
            params["pattern"],
            list(params["beam_args"]),
            restart_with_new_model=bool(params["restart_with_new_model"]),
        )

    model = resolve_model()
    wait_for("collections")() >> model
    caption_collection(model)


vist_batch_captioning()
