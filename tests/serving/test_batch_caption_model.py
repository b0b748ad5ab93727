"""batch-caption records which model wrote an output and never resumes it with another one.

Through the real `vistflow batch-caption` CLI and Beam job, with the toy captioners whose
captions start with "v1" / "v2" (so a test sees which model wrote each line).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from toy_serving import solid_image

from commands.main import main as cli_main
from serving.publish import publish

COLOURS = {"a.png": (220, 40, 30), "b.png": (30, 240, 250), "c.png": (20, 200, 40)}


@pytest.fixture
def photos(tmp_path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for name, rgb in COLOURS.items():
        (d / name).write_bytes(solid_image(rgb))
    return d


@pytest.fixture
def served(toy_models, tmp_path) -> Path:
    """<base>/toy/1 = the v1 captioner, <base>/toy/2 = v2 (the TF Serving layout)."""
    base = tmp_path / "serving"
    publish(toy_models["v1"], base, "toy")
    publish(toy_models["v2"], base, "toy")
    return base / "toy"


def batch_caption(model: Path, photos: Path, out: Path, *extra: str) -> int:
    argv = ["batch-caption", "--model", str(model), "--input", str(photos / "*"), "--output"]
    return cli_main([*argv, str(out), *extra])


def captions(out: Path) -> list[str]:
    return [json.loads(x)["caption"] for x in (out / "captions.jsonl").read_text().splitlines()]


def test_a_rerun_with_another_model_refuses_until_restart(served, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert batch_caption(served / "1", photos, out) == 0
    first = (out / "captions.jsonl").read_bytes()
    assert captions(out) == [
        "v1 a dark red photo",
        "v1 a bright blue photo",
        "v1 a dark green photo",
    ]
    recorded = json.loads((out / "model.json").read_text())
    assert (recorded["path"], recorded["name"], recorded["version"]) == (
        str(served / "1"),
        "toy",
        1,
    )
    assert len(recorded["sha256"]) == 64
    assert json.loads((out / "summary.json").read_text())["model"] == recorded
    capsys.readouterr()

    # Another model (v2 is the latest under <base>/toy): refused, outputs untouched.
    assert batch_caption(served, photos, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(served / "1") in err and str(served / "2") in err
    assert "version 1" in err and "version 2" in err and "--restart" in err
    assert (out / "captions.jsonl").read_bytes() == first
    assert json.loads((out / "model.json").read_text()) == recorded

    # The same model copied elsewhere is the same content: it resumes (nothing re-captioned).
    copy = tmp_path / "copy_of_v1"
    shutil.copytree(served / "1", copy)
    assert batch_caption(copy, photos, out) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output_state"] == "resume" and summary["skipped_already_done"] == 3
    assert (out / "captions.jsonl").read_bytes() == first

    # --restart discards the v1 outputs and captions everything with v2.
    assert batch_caption(served, photos, out, "--restart") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output_state"] == "restart" and summary["skipped_already_done"] == 0
    assert captions(out) == [
        "v2 a dark red photo",
        "v2 a bright blue photo",
        "v2 a dark green photo",
    ]
    recorded2 = json.loads((out / "model.json").read_text())
    assert (recorded2["path"], recorded2["version"]) == (str(served / "2"), 2)
    assert recorded2["sha256"] != recorded["sha256"]
    assert summary["model"] == recorded2


def test_outputs_without_a_recorded_model_are_not_resumed(served, photos, tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (out / "captions.jsonl").write_text(
        json.dumps({"id": "a", "path": str(photos / "a.png"), "caption": "?", "score": 0.5}) + "\n"
    )
    assert batch_caption(served / "2", photos, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did not record its model" in err and "--restart" in err
    assert not (out / "model.json").exists()
