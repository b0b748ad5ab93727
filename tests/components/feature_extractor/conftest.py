"""Fixtures of the feature-extractor tests: tiny datasets and one shared reference run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fx_data helpers, importable by the tests

from fx_data import REFERENCE_CONFIG, STORIES, make_dataset  # noqa: E402


@pytest.fixture(scope="session")
def fx_dataset(tmp_path_factory) -> Path:
    """The examples dir of the standard tiny dataset (9 unique photos, 25 references)."""
    return make_dataset(tmp_path_factory.mktemp("fx_data"))


@pytest.fixture(scope="session")
def fx_broken_dataset(tmp_path_factory) -> Path:
    """Like fx_dataset plus one story whose photo is not an image (the join must drop it)."""
    stories = STORIES + [("train", "s6", ["p0", "p1", "broken", "p3", "p4"])]
    return make_dataset(
        tmp_path_factory.mktemp("fx_broken"),
        stories=stories,
        extra_images={"broken": b"this is not an image" + bytes(range(256))},
    )


@pytest.fixture(scope="session")
def fx_reference(fx_dataset, tmp_path_factory):
    """One in-process DirectRunner run on fx_dataset: (out_dir, metadata). Others compare to it."""
    from components.feature_extractor.pipeline import ExtractionConfig, extract_features

    out = tmp_path_factory.mktemp("fx_reference") / "features"
    meta = extract_features(str(fx_dataset), str(out), ExtractionConfig(**REFERENCE_CONFIG))
    return out, meta


@pytest.fixture(scope="session")
def fx_backbone_dir(tmp_path_factory) -> str:
    """A saved `tiny` backbone (seed 0), as the launcher writes it for the workers."""
    from vistflow import backbones as bb

    out = str(tmp_path_factory.mktemp("fx_backbone") / "backbone")
    spec = bb.SPECS["tiny"]
    bb.save_backbone(bb.build_backbone("tiny", seed=0), spec, bb.describe_weights("random"), out)
    return out
