"""The local deployment (`pipelines/deployment.py`, `make deploy-local`) under test: PostgreSQL
for Airflow's metadata DB and ML Metadata, the real scheduler with the LocalExecutor (each task in
its own process), runs triggered as an operator would (`airflow dags trigger`, `tasks clear`).

First wave: a run for a date whose partition never lands, then one for a landed date, of the
same DAG (max_active_runs=1): the first ends skipped after its short timeout and the second
runs, passes every gate and pushes version 1, whose lineage (ML Metadata on Postgres) names its
examples and span. Second wave, together: the push task cleared and rerun (no new version, no
new model), the data-quality DAG for the same date (its own pipeline runs) and batch captioning
with the pushed model. Tiny backbone, few steps; the module starts and stops its own servers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from airflow_testing import REPO  # noqa: F401 - the repo on sys.path
from test_retraining_spans import TRAINER  # the small DAG-test trainer, one copy

from pipelines import deployment as dep

pytestmark = [
    pytest.mark.timeout(1500),
]

LANDED, NEVER = "2026-11-02", "2026-10-26"
SPAN = 20261102
ENV = {
    "VISTFLOW_PARTITION_TIMEOUT_S": "5",
    "VISTFLOW_POKE_INTERVAL_S": "1",
    "VISTFLOW_DAG_RETRIES": "0",
    # Two cores shared: two task processes at a time, a quiet scheduler loop.
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
    "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "1",
}


@pytest.fixture(scope="module")
def deployment():
    # Not under pytest's tmp dir (0700): under root, PostgreSQL runs as `postgres`, which must
    # reach its data dir.
    root = Path(tempfile.mkdtemp(prefix="vistflow-deploy-"))
    root.chmod(0o755)
    try:
        d = dep.up(root, parallelism=2, extra_env=ENV)  # stops what it started if it fails
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        home = d.vistflow_home
        (home / "pipeline_config.json").write_text(
            json.dumps(
                {
                    "concept_pretraining": True,
                    "concept_config": {"epochs": 2},
                    "trainer_config": TRAINER,
                    "train_steps": 8,
                    "eval_steps": 2,
                    "evaluator_config": {
                        "meteor": "none",
                        "gate_metric": "Bleu_1",
                        "report_samples": 1,
                    },
                }
            )
        )
        dep.land(d, LANDED, synth_stories=12)
        yield d
    finally:
        dep.down(d, purge=True)


def wait(d, runs: dict[str, list[str]], timeout: float = 1200) -> dict:
    start = time.monotonic()
    states = dep.wait_for_runs(d, runs, timeout=timeout, poll=3)
    print(f"{runs} finished in {time.monotonic() - start:.0f} s: {states}")
    return states


def versions(d) -> list[str]:
    base = d.vistflow_home / "serving" / "vist_captioner"
    return sorted(p.name for p in base.iterdir() if p.name.isdigit()) if base.is_dir() else []


def run_summary(d, ds: str, dag_id: str) -> dict:
    return json.loads((d.vistflow_home / "runs" / dag_id / f"{ds}.json").read_text())


def task_pids(d, dag_id: str, run_id: str) -> dict[str, int]:
    rows = dep._query(
        d,
        "SELECT task_id, pid FROM task_instance WHERE dag_id = %s AND run_id = %s",
        (dag_id, run_id),
    )
    return dict(rows)


def mlmd(d):
    from ml_metadata import metadata_store

    from pipelines.metadata_config import connection_config

    url = d.env()["VISTFLOW_METADATA_CONNECTION"]
    return metadata_store.MetadataStore(connection_config(url))


def task_log_tail(d, dag_id: str, run_id: str) -> str:
    logs = sorted((d.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}").rglob("*"))
    return "\n".join(f"--- {p}\n{dep.tail(p, 3000)}" for p in logs if p.is_file())


@pytest.fixture(scope="module")
def first_wave(deployment):
    """A never-landing date, then a landed one, of vist_retraining (max_active_runs=1)."""
    never = dep.trigger(deployment, "vist_retraining", NEVER)
    landed = dep.trigger(deployment, "vist_retraining", LANDED)
    states = wait(deployment, {"vist_retraining": [never, landed]})
    return {"never": never, "landed": landed, "states": states}


@pytest.fixture(scope="module")
def second_wave(deployment, first_wave):
    """push cleared and rerun, data quality for the same date, batch captioning: together."""
    d = deployment
    store = mlmd(d)
    before = {
        "models": len(store.get_artifacts_by_type("Model")),
        "pushed": len(store.get_artifacts_by_type("PushedModel")),
    }
    collection = d.vistflow_home / "collections" / LANDED
    collection.mkdir(parents=True)
    images = sorted((d.vistflow_home / "landing" / LANDED / "images" / "test").iterdir())[:3]
    for img in images:
        shutil.copy(img, collection / img.name)
    (collection / "_SUCCESS").write_text("")
    landed = first_wave["landed"]
    d.airflow("tasks", "clear", "-y", "-t", "^push$", "-s", LANDED, "-e", LANDED, "vist_retraining")
    # The clear re-queues the run at once, so the wait below cannot see its old success (checked
    # before the triggers: by then the scheduler may have rerun push already; its try_number
    # says it ran again).
    assert dep.run_states(d, "vist_retraining")[landed] in ("queued", "running")
    quality = dep.trigger(d, "vist_data_quality", LANDED)
    batch = dep.trigger(d, "vist_batch_captioning", LANDED)
    runs = {
        "vist_retraining": [landed],
        "vist_data_quality": [quality],
        "vist_batch_captioning": [batch],
    }
    states = wait(d, runs)
    return {
        "before": before,
        "states": states,
        "quality": quality,
        "batch": batch,
        "images": images,
    }


def test_the_landed_run_succeeds_with_each_task_in_its_own_process(deployment, first_wave):
    d, landed = deployment, first_wave["landed"]
    assert first_wave["states"][("vist_retraining", landed)] == "success", task_log_tail(
        d, "vist_retraining", landed
    )
    states = dep.task_states(d, "vist_retraining", landed)
    assert set(states.values()) == {"success"}, states
    assert len(states) == 8
    pids = task_pids(d, "vist_retraining", landed)
    stages = [t for t in states if t != "wait_for_partition"]
    assert len({pids[t] for t in stages}) == len(stages), pids  # a process per task
    assert versions(d) == ["1"]
    summary = run_summary(d, LANDED, "vist_retraining")
    assert summary["ingest"]["run_id"] == f"vist_retraining.{landed}.ingest"
    assert summary["evaluate"]["blessed"] is True
    assert summary["concepts"]["concepts"]  # concept pretraining ran (tiny backbone)


def test_a_partition_that_never_lands_ends_skipped_without_blocking(deployment, first_wave):
    d, never = deployment, first_wave["never"]
    assert first_wave["states"][("vist_retraining", never)] == "success"  # ended, not failed
    states = dep.task_states(d, "vist_retraining", never)
    assert states["wait_for_partition"] == "skipped", states
    assert set(states.values()) == {"skipped"}, states
    # The landed run, queued behind it (max_active_runs=1), ran once it ended.
    [(start,)] = dep._query(
        d, "SELECT start_date FROM dag_run WHERE run_id = %s", (first_wave["landed"],)
    )
    [(end,)] = dep._query(d, "SELECT end_date FROM dag_run WHERE run_id = %s", (never,))
    assert start >= end


def test_lineage_on_postgres_links_the_pushed_model_to_its_examples(deployment, first_wave):
    from pipelines.lineage import pushed_model_lineage

    d = deployment
    url = d.env()["VISTFLOW_METADATA_CONNECTION"]
    assert url.startswith("postgresql://") and url.endswith("/mlmd")
    lineage = pushed_model_lineage(url)
    print(json.dumps(lineage, indent=1))
    [pushed] = lineage
    summary = run_summary(d, LANDED, "vist_retraining")
    assert pushed["version"] == "1"
    assert pushed["spans"] == [SPAN]
    assert pushed["examples_uris"] == summary["features"]["outputs"]["FeatureExtractor.examples"]
    assert [pushed["model_uri"]] == summary["train"]["outputs"]["Trainer.model"]
    assert pushed["base_model_uri"] is None
    # Nothing went to the SQLite default.
    assert not (d.vistflow_home / "pipeline" / "metadata.sqlite").exists()


def test_a_cleared_push_reruns_without_duplicate_outputs(deployment, first_wave, second_wave):
    d, landed = deployment, first_wave["landed"]
    assert second_wave["states"][("vist_retraining", landed)] == "success", task_log_tail(
        d, "vist_retraining", landed
    )
    [(tries,)] = dep._query(
        d,
        "SELECT try_number FROM task_instance WHERE dag_id = %s AND run_id = %s "
        "AND task_id = 'push'",
        ("vist_retraining", landed),
    )
    assert tries == 2  # it ran again
    assert versions(d) == ["1"]
    store = mlmd(d)
    assert len(store.get_artifacts_by_type("Model")) == second_wave["before"]["models"]
    from pipelines.lineage import pushed_model_lineage

    assert len(pushed_model_lineage(d.env()["VISTFLOW_METADATA_CONNECTION"])) == 1


def test_the_data_quality_dag_has_its_own_pipeline_runs(deployment, first_wave, second_wave):
    d, quality, landed = deployment, second_wave["quality"], first_wave["landed"]
    assert second_wave["states"][("vist_data_quality", quality)] == "success", task_log_tail(
        d, "vist_data_quality", quality
    )
    summary = run_summary(d, LANDED, "vist_data_quality")
    for stage in ("ingest", "concepts", "features", "validate"):
        assert summary[stage]["run_id"] == f"vist_data_quality.{quality}.{stage}"
    assert run_summary(d, LANDED, "vist_retraining")["ingest"]["run_id"].startswith(
        "vist_retraining."
    )
    report = json.loads((d.vistflow_home / "quality" / LANDED / "report.json").read_text())
    assert report["train"]["input"] == report["train"]["accepted"] + report["train"]["rejected"]
    runs = {c.name for c in mlmd(d).get_contexts_by_type("pipeline_run")}
    assert {f"vist_data_quality.{quality}.ingest", f"vist_retraining.{landed}.ingest"} <= runs


def test_batch_captioning_captions_with_the_pushed_model(deployment, second_wave):
    d, batch = deployment, second_wave["batch"]
    assert second_wave["states"][("vist_batch_captioning", batch)] == "success", task_log_tail(
        d, "vist_batch_captioning", batch
    )
    out = d.vistflow_home / "captions" / LANDED / "captions.jsonl"
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(Path(x["path"]).name for x in lines) == sorted(
        p.name for p in second_wave["images"]
    )
    assert all(x["caption"].strip() for x in lines)
