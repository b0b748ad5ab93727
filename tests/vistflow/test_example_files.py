"""Where an Examples artifact's files are: split folders, shards, patterns (any filesystem)."""

from __future__ import annotations

import os

import pytest

from vistflow import example_files
from vistflow.errors import VistflowError


@pytest.fixture
def artifact(tmp_path):
    for split, names in {"train": ["data_tfrecord-00001-of-00002.gz", "data_tfrecord-00000-of-00002.gz"], "val": ["data_tfrecord-00000-of-00001.gz", ".tmp-staging"], "empty": []}.items():  # fmt: skip
        d = tmp_path / f"Split-{split}"
        d.mkdir()
        for name in names:
            (d / name).write_bytes(b"x")
    (tmp_path / "Split-notadir").write_text("a file named like a split")
    (tmp_path / "backbone").mkdir()
    return str(tmp_path)


def test_split_dirs_and_patterns_list_every_split_folder_and_nothing_else(artifact):
    dirs = example_files.split_dirs(artifact)
    assert dirs == {s: os.path.join(artifact, f"Split-{s}") for s in ("empty", "train", "val")}
    assert example_files.split_patterns(artifact)["train"] == os.path.join(
        artifact, "Split-train", "data_tfrecord-*.gz"
    )
    assert example_files.split_patterns(artifact, files="*")["val"] == os.path.join(
        artifact, "Split-val", "*"
    )
    assert example_files.split_pattern(artifact, "test") == os.path.join(
        artifact, "Split-test", "data_tfrecord-*.gz"
    )


def test_split_files_are_sorted_skip_hidden_files_and_name_what_is_missing(artifact):
    train = example_files.split_files(artifact, "train")
    assert [os.path.basename(f) for f in train] == [
        "data_tfrecord-00000-of-00002.gz",
        "data_tfrecord-00001-of-00002.gz",
    ]
    assert [os.path.basename(f) for f in example_files.split_files(artifact, "val")] == [
        "data_tfrecord-00000-of-00001.gz"
    ]
    with pytest.raises(VistflowError, match="the examples have no split 'test'"):
        example_files.split_files(artifact, "test")
    with pytest.raises(VistflowError, match="split 'empty' holds no TFRecord files"):
        example_files.split_files(artifact, "empty")


def test_resolve_files_expands_patterns_in_order(artifact):
    by_pattern = example_files.resolve_files(example_files.split_pattern(artifact, "train"))
    assert by_pattern == sorted(by_pattern) and len(by_pattern) == 2
    both = example_files.resolve_files(
        [
            example_files.split_pattern(artifact, "val"),
            example_files.split_pattern(artifact, "train"),
        ]
    )
    assert both[0].endswith(os.path.join("Split-val", "data_tfrecord-00000-of-00001.gz"))
    assert both[1:] == by_pattern  # sorted within a pattern, patterns in the order given
    with pytest.raises(VistflowError, match="no input files match"):
        example_files.resolve_files(example_files.split_pattern(artifact, "empty"))
