"""A throwaway Airflow installation (SQLite metadata DB) for the DAG tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from airflow_testing import AIRFLOW, airflow_env


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    """AIRFLOW_HOME with a migrated SQLite DB, shared by the session."""
    home = tmp_path_factory.mktemp("airflow_home")
    subprocess.run(
        [AIRFLOW, "db", "migrate"], env=airflow_env(home), check=True, capture_output=True
    )
    return home
