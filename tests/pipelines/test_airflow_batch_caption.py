"""The batch-captioning task's model policy: a retry resumes, a newer model captions again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pipelines import airflow_tasks as t
from vistflow.errors import VistflowError

DS = "2026-03-01"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    collection = tmp_path / "collections" / DS
    collection.mkdir(parents=True)
    for i, rgb in enumerate([(220, 20, 20), (20, 20, 220), (20, 200, 20)]):
        Image.new("RGB", (24, 16), rgb).save(collection / f"p{i}.png")
    # Where the task looks for <home> (an Airflow Variable in production).
    monkeypatch.setattr(t, "vistflow_home", lambda: tmp_path)
    return tmp_path


def _captions(home: Path) -> list[str]:
    text = (home / "captions" / DS / "captions.jsonl").read_text()
    return sorted(json.loads(line)["caption"] for line in text.splitlines())


def test_a_newer_model_captions_the_partition_again(home, toy_models):
    t.batch_caption(str(toy_models["v1"]), DS, "*.png", [])
    assert all(c.startswith("v1 ") for c in _captions(home)) and len(_captions(home)) == 3
    t.batch_caption(str(toy_models["v1"]), DS, "*.png", [])  # a retry: resumes, no duplicates
    assert len(_captions(home)) == 3
    t.batch_caption(str(toy_models["v2"]), DS, "*.png", [])
    assert len(_captions(home)) == 3 and all(c.startswith("v2 ") for c in _captions(home))


def test_without_restart_a_newer_model_is_refused(home, toy_models):
    t.batch_caption(str(toy_models["v1"]), DS, "*.png", [])
    with pytest.raises(VistflowError, match="holds captions by model"):
        t.batch_caption(str(toy_models["v2"]), DS, "*.png", [], restart_with_new_model=False)
    assert all(c.startswith("v1 ") for c in _captions(home))


def test_latest_pushed_model_is_the_highest_complete_version(tmp_path):
    """Serving's layout decides: integer version dirs with a SavedModel; staging dirs, versions
    without a saved_model.pb and other names are not versions."""
    base = tmp_path / "serving" / "m"
    for name in ("1", "2", "10", ".tmp-12", "v13"):
        (base / name).mkdir(parents=True)
        (base / name / "saved_model.pb").write_bytes(b"")
    (base / "11").mkdir()  # a version without its SavedModel (not complete)
    assert t.latest_pushed_model(tmp_path, "m") == base / "10"
    assert t.latest_pushed_model(tmp_path, "other") is None
