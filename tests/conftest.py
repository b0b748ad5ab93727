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
