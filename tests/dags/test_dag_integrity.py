"""DagBag integrity, structure and parse cost of the vistflow DAGs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from airflow_testing import DAGS, REPO, airflow_env

EXPECTED = {
    "vist_retraining": {
        "wait_for_partition": {"ingest"},
        "ingest": {"concepts"},
        "concepts": {"features"},
        "features": {"validate"},
        "validate": {"train"},
        "train": {"evaluate"},
        "evaluate": {"push"},
        "push": set(),
    },
    "vist_data_quality": {
        "wait_for_partition": {"ingest"},
        "ingest": {"concepts", "publish_report"},
        "concepts": {"features"},
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


# Parsed in a subprocess, as Airflow's DAG processor does: importing Airflow in the test process
# would install its logging handlers and settings for every later test.
DAGBAG_PROBE = r"""
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
print(json.dumps({
    "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {
        d.dag_id: {
            "edges": {t.task_id: sorted(t.downstream_task_ids) for t in d.tasks},
            "catchup": d.catchup,
            "retries": d.default_args.get("retries", 0),
            "tags": sorted(d.tags),
            "tz": str(d.start_date.tzinfo),
        }
        for d in bag.dags.values()
    },
}))
"""


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    env = airflow_env(airflow_home)
    env.pop("VISTFLOW_DAG_RETRIES", None)
    out = subprocess.run(
        [sys.executable, "-c", DAGBAG_PROBE, str(DAGS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_import_errors(dagbag):
    assert dagbag["import_errors"] == {}
    assert set(dagbag["dags"]) == set(EXPECTED)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_structure(dagbag, dag_id):
    dag = dagbag["dags"][dag_id]
    assert {k: set(v) for k, v in dag["edges"].items()} == EXPECTED[dag_id]
    assert dag["catchup"] is False
    assert dag["retries"] >= 1
    assert "vistflow" in dag["tags"]
    assert dag["tz"] == "UTC"


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
