"""batch-caption: every path a glob or list names is captioned or rejected once, nothing hangs.

Dangling links, directories, FIFOs and sockets named like images go through the real
`vistflow batch-caption` CLI and Beam job; a watchdog unblocks a FIFO that the job opened, so
a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from cli_watchdog import run_cli
from toy_serving import solid_image

JOB_TIMEOUT = 180


@pytest.fixture
def odd_folder(tmp_path, monkeypatch):
    """Two good images and one of every kind of entry that is no image file."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "good.png").write_bytes(solid_image((220, 40, 30)))
    (d / "link.png").symlink_to(d / "good.png")  # a link to a file is that file
    (d / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (d / "album.jpg").mkdir()
    (d / "album.jpg" / "inside.png").write_bytes(solid_image((20, 200, 40)))
    (d / "dirlink.jpg").symlink_to(d / "album.jpg")
    os.mkfifo(d / "pipe.jpg")
    monkeypatch.chdir(d)  # a socket path must be short: bind it relative
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock.jpg")
    yield d
    sock.close()


EXPECTED = {  # name -> reason ("" = captioned)
    "good.png": "",
    "link.png": "",
    "gone.jpg": "missing_image",
    "album.jpg": "not_a_file",
    "dirlink.jpg": "not_a_file",
    "pipe.jpg": "not_a_file",
    "sock.jpg": "not_a_file",
}


def _outputs(out: Path) -> tuple[dict, dict]:
    captions = [json.loads(x) for x in (out / "captions.jsonl").read_text().splitlines()]
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    by_name = {}
    for row in captions + rejects:
        name = Path(row["path"]).name
        assert name not in by_name, f"{name} written twice"
        by_name[name] = row
    return by_name, json.loads((out / "summary.json").read_text())


def _check(out: Path, folder: Path) -> None:
    rows, summary = _outputs(out)
    assert {n: r.get("reason", "") for n, r in rows.items()} == EXPECTED
    assert {n: r["path"] for n, r in rows.items()} == {n: str(folder / n) for n in EXPECTED}
    assert rows["good.png"]["caption"] == rows["link.png"]["caption"] == "v1 a dark red photo"
    assert "dangling symbolic link" in rows["gone.jpg"]["detail"]
    assert "directory" in rows["album.jpg"]["detail"]
    assert "directory" in rows["dirlink.jpg"]["detail"]
    assert "FIFO" in rows["pipe.jpg"]["detail"]
    assert "socket" in rows["sock.jpg"]["detail"]
    assert summary["inputs"] == len(EXPECTED) == summary["captions"] + summary["rejects"]
    assert summary["rejects_by_reason"] == {"missing_image": 1, "not_a_file": 4}


def test_glob_rejects_every_odd_entry_once_and_does_not_hang(odd_folder, toy_models, tmp_path):
    out = tmp_path / "out"
    argv = ["batch-caption", "--model", str(toy_models["v1"]), "--output", str(out)]
    rc = run_cli([*argv, "--input", str(odd_folder / "*")], [odd_folder / "pipe.jpg"], JOB_TIMEOUT)
    assert rc == 0
    _check(out, odd_folder)


def test_input_list_gives_the_same_verdicts(odd_folder, toy_models, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{odd_folder / n}\n" for n in sorted(EXPECTED)))
    out = tmp_path / "out"
    argv = ["batch-caption", "--model", str(toy_models["v1"]), "--output", str(out)]
    rc = run_cli([*argv, "--input-list", str(listing)], [odd_folder / "pipe.jpg"], JOB_TIMEOUT)
    assert rc == 0
    _check(out, odd_folder)


def test_glob_listing_sees_every_entry_and_folders_only_as_leaves(tmp_path):
    from serving import image_files

    d = tmp_path / "in"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "empty").mkdir()
    (d / "a.jpg").write_bytes(b"x")
    (d / "sub" / "b.jpg").write_bytes(b"x")
    (d / "sub" / "deeper" / "c.png").write_bytes(b"x")
    (d / "gone.jpg").symlink_to(tmp_path / "nowhere")
    # `*`: a folder is an entry like any other (its content does not match `*`).
    assert image_files.list_matches(f"{d}/*") == [
        f"{d}/{n}" for n in ("a.jpg", "empty", "gone.jpg", "sub")
    ]
    # `**`: folders with matches below are where the files are; an empty folder is a leaf.
    assert image_files.list_matches(f"{d}/**") == [
        f"{d}/{n}" for n in ("a.jpg", "empty", "gone.jpg", "sub/b.jpg", "sub/deeper/c.png")
    ]
    assert image_files.list_matches(f"{d}/**.jpg") == [
        f"{d}/{n}" for n in ("a.jpg", "gone.jpg", "sub/b.jpg")
    ]
    assert image_files.list_matches(f"{d}/gone.jpg") == [f"{d}/gone.jpg"]  # no wildcard
    assert image_files.list_matches(f"{d}/none*") == []
    assert image_files.has_match(f"{d}/g*") and not image_files.has_match(f"{d}/x*")
