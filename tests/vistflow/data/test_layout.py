from __future__ import annotations

import os
from pathlib import Path

import pytest

from vistflow.data import layout
from vistflow.errors import VistflowError


def test_official_paths(tmp_path: Path):
    assert layout.sis_path(tmp_path, "train") == tmp_path / "sis" / "train.story-in-sequence.json"
    assert (
        layout.dii_path(tmp_path, "val") == tmp_path / "dii" / "val.description-in-isolation.json"
    )
    assert layout.image_dir(tmp_path, "test") == tmp_path / "images" / "test"
    with pytest.raises(VistflowError, match="unknown split 'dev'"):
        layout.sis_path(tmp_path, "dev")


def test_find_image_any_extension(tmp_path: Path):
    images = tmp_path / "images" / "train"
    images.mkdir(parents=True)
    for name in ("1.jpg", "2.PNG", "3.gif", "4", "5.txt", "5.bmp", "6.tar.gz", ".7.jpg"):
        (images / name).write_bytes(b"x")
    (images / "8.jpg").mkdir()  # a directory is not an image

    found = {p: layout.find_image(tmp_path, "train", p) for p in "12345678"}

    assert found == {
        "1": images / "1.jpg",
        "2": images / "2.PNG",
        "3": images / "3.gif",
        "4": images / "4",
        "5": images / "5.bmp",  # a known image extension wins over .txt
        "6": None,  # "6.tar" is the stem, not "6"
        "7": None,  # hidden files are ignored
        "8": None,
    }
    assert layout.find_image(tmp_path, "val", "1") is None  # no images/val at all


def test_index_is_built_once_and_refreshed_when_the_directory_changes(tmp_path: Path):
    images = tmp_path / "images" / "val"
    images.mkdir(parents=True)
    (images / "1.jpg").write_bytes(b"x")
    first = layout.image_index(tmp_path, "val")
    assert layout.image_index(tmp_path, "val") is first and len(first) == 1

    (images / "2.png").write_bytes(b"x")
    stat = images.stat()
    os.utime(images, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # coarse clocks

    assert layout.find_image(tmp_path, "val", "2") == images / "2.png"
    assert layout.image_index(tmp_path, "val") is not first
