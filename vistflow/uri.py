"""Paths that may be local or a URI (gs://, s3://, hdfs://, ram://): join, list, stat, read.

Local paths stay `pathlib.Path` and use `os` (fast, unchanged behaviour); URIs stay strings,
joined with "/" (Path() would fold `gs://b` into `gs:/b`) and go through `tf.io.gfile`.
`file://` counts as local. TensorFlow is imported lazily: the floor stays cheap to import.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from vistflow import s3_exit


def is_uri(path: str | os.PathLike) -> bool:
    """True for a non-local URI (an object store or HDFS): no atomic rename, no `os` calls."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def as_path(path: str | os.PathLike) -> Path | str:
    """A local path as Path; a URI as a string without a trailing slash."""
    text = os.fspath(path)
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    return text.rstrip("/") if is_uri(text) else Path(text)


def join(base: str | os.PathLike, *parts: str) -> Path | str:
    """`base/part/...`: a Path for a local base, a "/"-joined string for a URI."""
    base = as_path(base)
    if isinstance(base, Path):
        return base.joinpath(*parts)
    return posixpath.join(base, *parts)


def name(path: str | os.PathLike) -> str:
    """The last component (`Path.name` for both kinds)."""
    return posixpath.basename(os.fspath(path).rstrip("/"))


def gfile(path: str | os.PathLike | None = None):
    """`tf.io.gfile`, with the plugin of `path`'s scheme loaded (s3:// needs tensorflow-io)."""
    if path is not None:
        s3_exit.load_plugin_for(os.fspath(path))
    import tensorflow as tf

    return tf.io.gfile


def exists(path: str | os.PathLike) -> bool:
    return gfile(path).exists(os.fspath(path)) if is_uri(path) else os.path.exists(path)


def isdir(path: str | os.PathLike) -> bool:
    return gfile(path).isdir(os.fspath(path)) if is_uri(path) else os.path.isdir(path)


def isfile(path: str | os.PathLike) -> bool:
    if not is_uri(path):
        return os.path.isfile(path)
    g = gfile(path)
    return g.exists(os.fspath(path)) and not g.isdir(os.fspath(path))


def listdir(path: str | os.PathLike) -> list[str]:
    """Entry names (no trailing "/"); a missing directory raises FileNotFoundError."""
    if not is_uri(path):
        return os.listdir(path)
    g = gfile(path)
    if not g.isdir(os.fspath(path)):
        raise FileNotFoundError(2, "No such directory", os.fspath(path))
    return [n.rstrip("/") for n in g.listdir(os.fspath(path))]


def stat(path: str | os.PathLike) -> tuple[int, int]:
    """(mtime in ns, size) of a file; OSError if it is not there."""
    if not is_uri(path):
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    try:
        st = gfile(path).stat(os.fspath(path))
    except Exception as e:  # tf.errors.NotFoundError is no OSError
        raise FileNotFoundError(2, str(e), os.fspath(path)) from e
    return int(st.mtime_nsec), int(st.length)


def read_bytes(path: str | os.PathLike) -> bytes:
    if not is_uri(path):
        return Path(path).read_bytes()
    with gfile(path).GFile(os.fspath(path), "rb") as f:
        return f.read()
