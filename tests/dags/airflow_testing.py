"""Helpers for the DAG tests: a throwaway Airflow environment (SQLite metadata DB)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow_env(home: Path, vistflow_home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(REPO),
    )
    if vistflow_home is not None:
        env["VISTFLOW_HOME"] = str(vistflow_home)
    return env
