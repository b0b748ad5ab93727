"""DagBag integrity, structure and parse cost of the vistflow DAGs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from airflow_testing import DAGS, REPO

EXPECTED = {
    "vist_retraining": {
        "wait_for_partition": {"ingest"},
        "ingest": {"features"},
        "features": {"validate"},
        "validate": {"train"},
        "train": {"evaluate"},
        "evaluate": {"push"},
        "push": set(),
    },
    "vist_data_quality": {
        "wait_for_partition": {"ingest"},
        "ingest": {"features", "publish_report"},
        "features": {"validate"},
        "validate": {"publish_report"},
        "publish_report": set(),
    },
    "vist_batch_captioning": {
        "wait_for_collection": {"resolve_model"},
        "resolve_model": {"caption_collection"},
        "caption_collection": set(),
    },
}


@pytest.fixture(scope="module")
def dagbag(airflow_home, monkeypatch_module):
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAGS), include_examples=False)


@pytest.fixture(scope="module")
def monkeypatch_module(airflow_home):
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW_HOME", str(airflow_home))
    mp.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{airflow_home}/airflow.db")
    yield mp
    mp.undo()


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(EXPECTED)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_structure(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    edges = {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}
    assert edges == EXPECTED[dag_id]
    assert dag.catchup is False
    assert dag.default_args["retries"] >= 1
    assert "vistflow" in dag.tags
    assert str(dag.start_date.tzinfo) == "UTC"


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_files_do_not_import_heavy_modules(dag_file):
    """Parsing must stay cheap: no tensorflow/tfx/beam at module level (they cost 10-50 s)."""
    code = (
        "import json, runpy, sys; runpy.run_path(sys.argv[1]);"
        "print(json.dumps(sorted(m for m in ('tensorflow', 'tfx', 'apache_beam', 'keras')"
        " if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / dag_file)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
