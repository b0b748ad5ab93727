"""Shared fixtures: small generated VIST datasets (the synthetic generator is deterministic)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Quiet TensorFlow's C++ start-up logs in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tests/fixtures/ modules import by their own names (`import real_format`): `tests.fixtures...`
# breaks once Beam has imported IPython, whose extensions directory (on sys.path) holds a
# regular package named `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))


@pytest.fixture(scope="session")
def synth_clean(tmp_path_factory):
    """A small fault-free synthetic VIST dataset (official layout) shared by the session."""
    from vistflow.synth import generate

    out = tmp_path_factory.mktemp("synth_clean")
    generate(out, stories=24, seed=3, fault_rate=0.0)
    return out


@pytest.fixture(scope="session")
def synth_faulty(tmp_path_factory):
    """A small synthetic dataset with every fault kind injected (see its faults.json)."""
    from vistflow.synth import generate

    out = tmp_path_factory.mktemp("synth_faulty")
    generate(out, stories=40, seed=7, fault_rate=0.3)
    return out


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory) -> dict[str, Path]:
    """Two versions of the toy captioner whose captions start with "v1" / "v2"."""
    from toy_serving import export_toy_captioner

    root = tmp_path_factory.mktemp("toy_models")
    return {marker: Path(export_toy_captioner(root / marker, marker)) for marker in ("v1", "v2")}


# The longest modules first (measured with `--durations`): `make test` spreads whole files over
# two workers in collection order, so a long module started last leaves the other core idle.
# The deployment test leads because much of it is waiting on the real scheduler, which the other
# worker's CPU-bound modules fill.
LONGEST_FIRST = (
    "dags/test_deployment.py",
    "dags/test_retraining_spans.py",
    "dags/test_dags_run.py",
    "pipelines/test_local_run.py",
    "vistflow/test_object_store.py",
    "pipelines/test_s3_run.py",
    "components/feature_extractor/test_feature_schema.py",
    "trainer/test_distribute.py",
    "trainer/test_train.py",
)


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).resolve().parent

    def rank(item) -> int:
        try:
            return LONGEST_FIRST.index(item.path.relative_to(tests_dir).as_posix())
        except ValueError:
            return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its collection order
