"""Where an Examples artifact's files are: its `Split-<split>/` folders, their shards, and file
patterns expanded to files. Every stage lists files through here (any filesystem tf.io.gfile
reads: local, gs://, s3://), so hidden staging files and empty splits are treated one way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from vistflow import example_format as ef
from vistflow.errors import VistflowError

SPLIT_PREFIX = ef.SPLIT_DIR.format(split="")


def split_dirs(examples_uri: str) -> dict[str, str]:
    """`{split: folder}` for every `Split-<split>/` folder of an Examples artifact, sorted."""
    import tensorflow as tf

    found = {}
    for entry in sorted(tf.io.gfile.listdir(examples_uri)):
        name = entry.rstrip("/")
        path = os.path.join(examples_uri, name)
        if name.startswith(SPLIT_PREFIX) and (entry.endswith("/") or tf.io.gfile.isdir(path)):
            found[name[len(SPLIT_PREFIX) :]] = path
    return found


def split_pattern(examples_uri: str, split: str, files: str = ef.SHARD_PATTERN) -> str:
    """`<examples_uri>/Split-<split>/<files>`: the file pattern of one split (it may not exist)."""
    return os.path.join(examples_uri, ef.SPLIT_DIR.format(split=split), files)


def split_patterns(examples_uri: str, files: str = ef.SHARD_PATTERN) -> dict[str, str]:
    """`{split: <folder>/<files>}` for every split folder of an Examples artifact."""
    return {split: os.path.join(d, files) for split, d in split_dirs(examples_uri).items()}


def split_files(examples_uri: str, split: str) -> list[str]:
    """The TFRecord shards of one split of an Examples artifact, sorted (deterministic order)."""
    import tensorflow as tf

    split_dir = os.path.join(examples_uri, ef.SPLIT_DIR.format(split=split))
    if not tf.io.gfile.isdir(split_dir):
        raise VistflowError(f"{split_dir}: the examples have no split {split!r}")
    files = sorted(
        os.path.join(split_dir, name)
        for name in tf.io.gfile.listdir(split_dir)
        if not name.endswith("/") and not name.startswith(".")
    )
    if not files:
        raise VistflowError(f"{split_dir}: split {split!r} holds no TFRecord files")
    return files


def resolve_files(patterns: str | Sequence[str]) -> list[str]:
    """Expand file patterns (TFX passes a list) to a sorted list of files; error if none match.

    A pattern that names a folder stands for the files in it.
    """
    import tensorflow as tf

    if isinstance(patterns, str):
        patterns = [patterns]
    files: list[str] = []
    for pattern in patterns:
        matched = tf.io.gfile.glob(pattern)
        if not matched and tf.io.gfile.isdir(pattern):
            matched = tf.io.gfile.glob(f"{pattern.rstrip('/')}/*")
        files.extend(sorted(matched))
    if not files:
        raise VistflowError(f"no input files match {', '.join(patterns)}")
    return files
