"""The real Airflow runs the vistflow DAGs end to end (`airflow dags test`, SQLite, temp home).

One module-scoped home is shared so the runs build on each other as in production: a first
retraining pushes version 1; re-running the same interval changes nothing; a deliberately
degraded trainer on a new partition is scored against the pushed model and pushes nothing; the
data-quality DAG reports on a partition; batch captioning captions a collection with the pushed
model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from airflow_testing import AIRFLOW, REPO, airflow_env

D1, D2 = "2026-11-02", "2026-11-09"
TRAINER = {
    "model": "show_attend_tell",
    "epochs": 3,
    "hidden_dim": 32,
    "embedding_dim": 32,
    "attention_dim": 32,
    "min_count": 1,
    "batch_size": 8,
    "decoding": {"method": "greedy", "max_length": 12},
}
# A learning rate this small leaves the decoder at its random initialisation.
DEGRADED = dict(TRAINER, learning_rate=1e-9)


def dags_test(home: Path, vhome: Path, dag_id: str, ds: str, conf: dict | None = None) -> str:
    cmd = [AIRFLOW, "dags", "test", dag_id, ds]
    if conf is not None:
        cmd += ["--conf", json.dumps(conf)]
    env = airflow_env(home, vhome)
    env["VISTFLOW_DAG_RETRIES"] = "0"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    return log


def task_states(log: str) -> dict[str, str]:
    states = {}
    for line in log.splitlines():
        if "Marking task as" in line and "task_id=" in line:
            state = line.split("Marking task as ")[1].split(".")[0]
            task = line.split("task_id=")[1].split(",")[0]
            states[task] = state
    return states


def versions(vhome: Path) -> list[str]:
    base = vhome / "serving" / "vist_captioner"
    return sorted(p.name for p in base.iterdir() if p.name.isdigit()) if base.is_dir() else []


@pytest.fixture(scope="module")
def vhome(tmp_path_factory, synth_clean) -> Path:
    from vistflow.synth import generate

    home = tmp_path_factory.mktemp("vistflow_home")
    for ds, seed in ((D1, 3), (D2, 4)):
        part = home / "landing" / ds
        if seed == 3:
            shutil.copytree(synth_clean, part)
        else:
            generate(part, stories=24, seed=seed, fault_rate=0.0)
        (part / "_SUCCESS").write_text("")
    (home / "pipeline_config.json").write_text(
        json.dumps(
            {
                "trainer_config": TRAINER,
                "train_steps": 60,
                "eval_steps": 5,
                "evaluator_config": {"meteor": "none", "gate_metric": "Bleu_1"},
            }
        )
    )
    return home


def test_retraining_pushes_first_model(airflow_home, vhome):
    log = dags_test(airflow_home, vhome, "vist_retraining", D1)
    states = task_states(log)
    assert set(states.values()) == {"SUCCESS"}, states
    assert len(states) == 7
    assert versions(vhome) == ["1"]
    summary = json.loads((vhome / "runs" / f"{D1}.json").read_text())
    assert summary["validate"]["anomalies"] == {}
    assert summary["evaluate"]["blessed"] is True
    # Every stage ran in its own TFX pipeline run, chained for lineage.
    assert summary["train"]["run_id"].endswith(".train")
    assert (vhome / "serving" / "vist_captioner" / "1" / "saved_model.pb").is_file()


def test_rerunning_an_interval_is_idempotent(airflow_home, vhome):
    before = sorted(p.name for p in (vhome / "pipeline" / "Trainer" / "model").iterdir())
    log = dags_test(airflow_home, vhome, "vist_retraining", D1)
    assert set(task_states(log).values()) == {"SUCCESS"}
    after = sorted(p.name for p in (vhome / "pipeline" / "Trainer" / "model").iterdir())
    assert after == before  # the Trainer execution was reused from the ML Metadata cache
    assert versions(vhome) == ["1"]  # and nothing was pushed twice


def test_degraded_model_is_not_pushed(airflow_home, vhome):
    conf = {"pipeline_overrides": {"trainer_config": DEGRADED}}
    log = dags_test(airflow_home, vhome, "vist_retraining", D2, conf)
    states = task_states(log)
    assert states["evaluate"] == "SUCCESS"  # the gate itself ran and decided
    assert states.get("push") in (None, "SKIPPED")
    assert versions(vhome) == ["1"]
    summary = json.loads((vhome / "runs" / f"{D2}.json").read_text())
    assert summary["evaluate"]["blessed"] is False
    assert "push" not in summary
    reasons = json.loads(Path(summary["evaluate"]["blessing_uri"], "reasons.json").read_text())
    failed = [c for c in reasons["checks"] if not c["passed"]]
    assert any(c["name"] == "baseline" for c in failed), reasons


def test_data_quality_dag_publishes_report(airflow_home, vhome):
    log = dags_test(airflow_home, vhome, "vist_data_quality", D2)
    assert set(task_states(log).values()) == {"SUCCESS"}
    out = vhome / "quality" / D2
    report = json.loads((out / "report.json").read_text())
    for split in ("train", "val", "test"):
        s = report[split]
        assert s["input"] == s["accepted"] + s["rejected"]
    assert (out / "report.html").is_file() and (out / "rejects.jsonl").is_file()
    assert json.loads((out / "anomalies.json").read_text()) == {}


def test_batch_captioning_dag_captions_collection(airflow_home, vhome):
    collection = vhome / "collections" / D2
    images = sorted((vhome / "landing" / D2 / "images" / "test").iterdir())[:4]
    collection.mkdir(parents=True)
    for img in images:
        shutil.copy(img, collection / img.name)
    (collection / "broken.jpg").write_bytes(b"not an image")
    (collection / "_SUCCESS").write_text("")
    log = dags_test(airflow_home, vhome, "vist_batch_captioning", D2)
    assert set(task_states(log).values()) == {"SUCCESS"}
    lines = [
        json.loads(x) for x in (vhome / "captions" / D2 / "captions.jsonl").read_text().splitlines()
    ]
    assert sorted(Path(x["path"]).name for x in lines) == sorted(p.name for p in images)
    assert all(x["caption"].strip() for x in lines)
    rejects = (vhome / "captions" / D2 / "rejects.jsonl").read_text()
    assert "broken.jpg" in rejects
