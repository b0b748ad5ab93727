"""Committing outputs so that they are complete or absent, on local disk and on object stores.

Every stage writes an output aside (its *staging* location) and commits it at the end:

- Local paths (and `file://`): the staging path is a hidden sibling of the output, renamed into
  place in one step. Replacing an existing directory moves it aside first (`.<name>.old-<id>`),
  so a kill leaves either the old or the new output under the final name, or none, never a mix.
- Object stores (any other `scheme://`: gs, s3, hdfs, ...) have no atomic directory rename. A
  directory is staged under `.<name>.staging-<id>/`, its files are moved (copy + delete on the
  store) under the final prefix, then the marker `<final>/_COMMITTED` is written LAST: readers
  trust a directory only when `is_committed` says so. A single file needs no marker: an object
  appears whole when its upload ends, so it is written aside and moved into place.

Non-local URIs go through `tf.io.gfile` (imported lazily: the floor must stay cheap to import).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from vistflow.errors import VistflowError

COMMIT_MARKER = "_COMMITTED"


class OutputExistsError(VistflowError):
    """The output is already there and the commit was not allowed to replace it."""


def is_local(uri: str | os.PathLike) -> bool:
    """True for plain paths and `file://` URIs (atomic rename available)."""
    text = os.fspath(uri)
    return "://" not in text or text.startswith("file://")


def _plain(uri: str | os.PathLike) -> str:
    text = os.fspath(uri)
    return text[len("file://") :] if text.startswith("file://") else text


def _gfile(path: str | None = None):
    from vistflow.uri import gfile  # loads the scheme's plugin (s3:// needs tensorflow-io)

    return gfile(path)


def _parent(path: str) -> str:
    # posixpath for URIs: os.path would be wrong on a non-POSIX driver and is the same here.
    return posixpath.dirname(path.rstrip("/"))


def staging_path(final_uri: str | os.PathLike, tag: str = "staging") -> str:
    """A fresh hidden sibling of `final_uri`: scanners skip dot-names, servers non-integers."""
    final = _plain(final_uri).rstrip("/")
    return posixpath.join(
        _parent(final), f".{posixpath.basename(final)}.{tag}-{uuid.uuid4().hex[:8]}"
    )


def _exists(path: str) -> bool:
    return os.path.lexists(path) if is_local(path) else _gfile(path).exists(path)


def _makedirs(path: str) -> None:
    if not path:
        return
    if is_local(path):
        os.makedirs(path, exist_ok=True)
    elif "/" in path.split("://", 1)[1].strip("/"):  # a bucket itself cannot be "made" (s3)
        _gfile(path).makedirs(path)


def discard(path: str | os.PathLike) -> None:
    """Remove a staging file or directory if it is there (what a killed run left behind)."""
    path = _plain(path)
    if is_local(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
        return
    gfile = _gfile(path)
    if gfile.isdir(path):
        gfile.rmtree(path)
    elif gfile.exists(path):
        gfile.remove(path)


def is_committed(uri: str | os.PathLike) -> bool:
    """Whether a reader may trust `uri`: on disk it exists; on a store, a file or a marked dir."""
    uri = _plain(uri).rstrip("/")
    if is_local(uri):
        return os.path.exists(uri)
    gfile = _gfile(uri)
    if gfile.exists(posixpath.join(uri, COMMIT_MARKER)):
        return True
    return gfile.exists(uri) and not gfile.isdir(uri)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: str) -> None:
    if not os.path.isdir(root):
        _fsync(root)
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            _fsync(os.path.join(dirpath, name))
        _fsync(dirpath)


def _commit_local(staging: str, final: str, replace: bool, durable: bool) -> None:
    if durable:  # the rename is only atomic for readers if the bytes are on disk before the name
        _fsync_tree(staging)
    if os.path.lexists(final) and not replace:
        raise OutputExistsError(f"{final}: already exists; outputs are not replaced here")
    if os.path.isdir(final) and not os.path.islink(final) and replace:
        # No rename replaces a non-empty directory: move the old one aside, then swap.
        old = staging_path(final, "old")
        os.rename(final, old)
        try:
            os.rename(staging, final)
        except BaseException:
            os.rename(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    elif replace:
        os.replace(staging, final)  # a file (or nothing) there: replaced in one step
    else:
        try:
            os.rename(staging, final)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY):  # another writer got there first
                raise OutputExistsError(f"{final}: was written concurrently") from e
            raise
    if durable:
        _fsync(_parent(final) or ".")


def _move(gfile, src: str, dst: str) -> None:
    try:
        gfile.rename(src, dst, overwrite=True)
    except Exception:
        # tensorflow-io's s3 refuses to rename an empty object ("directory or empty file").
        if gfile.stat(src).length != 0:
            raise
        with gfile.GFile(dst, "wb"):
            pass
        gfile.remove(src)


def _commit_store(staging: str, final: str, replace: bool, last: Sequence[str]) -> None:
    gfile = _gfile(final)
    marker = posixpath.join(final, COMMIT_MARKER)
    if gfile.exists(final):
        if not replace:
            raise OutputExistsError(f"{final}: already exists; outputs are not replaced here")
        if gfile.exists(marker):
            gfile.remove(marker)  # un-commit first: readers now see it absent, never a mix
        if gfile.isdir(final):
            gfile.rmtree(final)
        else:
            gfile.remove(final)
    if not gfile.isdir(staging):
        _move(gfile, staging, final)  # one object: appears whole or not at all
        return
    moves = []
    for root, _dirs, files in gfile.walk(staging):
        gfile.makedirs(final + root[len(staging) :])
        for name in files:
            src = posixpath.join(root, name)
            rel = src[len(staging) :].lstrip("/")
            moves.append((rel in last, src, posixpath.join(final, rel)))
    for _, src, dst in sorted(moves):  # the `last` files after the others
        _move(gfile, src, dst)
    with gfile.GFile(marker, "w") as f:
        f.write(json.dumps({"committed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    discard(staging)  # on a store the emptied prefix is usually gone already


def commit(
    staging: str | os.PathLike,
    final: str | os.PathLike,
    *,
    replace: bool = False,
    durable: bool = False,
    last: Sequence[str] = (),
) -> None:
    """Publish the finished `staging` file or directory as `final`.

    Args:
      replace: replace an existing `final`; otherwise OutputExistsError (VistflowError).
      durable: local only: fsync the staged files, directories and the parent around the rename.
      last: object stores: relative paths moved after all others (just before the marker), for
        readers that still key on one file of the output.
    """
    staging, final = _plain(staging).rstrip("/"), _plain(final).rstrip("/")
    if is_local(final):
        _commit_local(staging, final, replace, durable)
    else:
        _commit_store(staging, final, replace, last)


@contextlib.contextmanager
def committed_output(
    final_uri: str | os.PathLike,
    *,
    replace: bool = False,
    staging: str | os.PathLike | None = None,
    make_dir: bool = False,
    durable: bool = False,
    last: Sequence[str] = (),
) -> Iterator[Any]:
    """Yields the staging location to write; on a clean exit commits it as `final_uri`.

    On an exception (or a kill) nothing is committed and the staging location is removed (or,
    after a kill, left for the next run with the same explicit `staging` to remove). Yields a
    Path when given one. `make_dir`: create the staging directory (otherwise only its parent).
    """
    final = _plain(final_uri).rstrip("/")
    stage = _plain(staging).rstrip("/") if staging is not None else staging_path(final)
    discard(stage)  # left by a killed run that used the same (explicit) staging name
    _makedirs(_parent(stage))
    _makedirs(_parent(final))
    if make_dir:
        _makedirs(stage)
    try:
        yield Path(stage) if isinstance(final_uri, os.PathLike) else stage
        commit(stage, final, replace=replace, durable=durable, last=last)
    except BaseException:
        discard(stage)
        raise


@contextlib.contextmanager
def open_committed(
    uri: str | os.PathLike,
    mode: str = "w",
    *,
    replace: bool = True,
    staging: str | os.PathLike | None = None,
) -> Iterator[IO[Any]]:
    """Opens a single file for streaming writes; it appears under `uri` only when closed cleanly.

    `staging`: where the file is written first (default: a hidden sibling of `uri`).
    """
    with committed_output(uri, replace=replace, staging=staging) as tmp:
        tmp = os.fspath(tmp)
        if not is_local(tmp):
            f = _gfile(tmp).GFile(tmp, mode)
        elif "b" in mode:
            f = open(tmp, mode, buffering=1 << 20)
        else:
            f = open(tmp, mode, encoding="utf-8", buffering=1 << 20)
        with f:
            yield f


def write_file_atomic(
    uri: str | os.PathLike,
    data: str | bytes,
    *,
    replace: bool = True,
    staging: str | os.PathLike | None = None,
) -> None:
    """Writes `data` to `uri` through a staged copy: readers see the old file or the new one."""
    mode = "wb" if isinstance(data, bytes) else "w"
    with open_committed(uri, mode, replace=replace, staging=staging) as f:
        f.write(data)
