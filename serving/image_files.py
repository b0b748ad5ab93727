"""What a user-given image path is, before anything opens it; and globs that miss no entry.

Opening a FIFO named `x.jpg` blocks forever and opening a directory fails with an unhelpful
error, so a local path is stat'ed first: only a regular file (or a link to one) is opened.
Beam's own glob listing (`FileSystems.match`) silently drops dangling links and directories,
so a local glob is listed here over every directory entry: each one that matches becomes an
input that is captioned or rejected with a reason, never lost.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from collections.abc import Iterator

# The reason codes `file_problem` gives (batch-caption rejects, caption/story CLI lines).
from vistflow.reasons import MISSING_IMAGE, NOT_A_FILE

# Beam is imported where a glob is listed: the caption/story CLIs use `file_problem` only.

logger = logging.getLogger(__name__)


def is_local(path: str) -> bool:
    """True for a local path (no `scheme://`)."""
    return "://" not in path


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return f"not a regular file (mode {stat.filemode(mode)})"


def file_problem(path: str) -> tuple[str, str, int | None]:
    """(reason, detail, size) for `path` without opening it; reason "" when it may be read.

    Local paths are stat'ed (following links; a dangling link is `missing_image`); anything but
    a regular file is `not_a_file`. On object stores only a name ending in "/" (a folder
    placeholder) is known to be no file; a missing object is found when it is opened.
    `size` is the file's size in bytes when known.
    """
    if path.endswith("/"):
        return NOT_A_FILE, "a directory (the name ends with '/'); not opened", None
    if not is_local(path):
        return "", "", None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        try:
            target = os.readlink(path)
        except OSError:
            return MISSING_IMAGE, "no such file", None
        return MISSING_IMAGE, f"dangling symbolic link to {target}", None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return MISSING_IMAGE, "symbolic link loop", None
        return "", "", None  # e.g. no permission: opening it says so
    if not stat.S_ISREG(st.st_mode):
        return NOT_A_FILE, f"{_kind(st.st_mode)}, not a regular file; not opened", None
    return "", "", st.st_size


def _local_entries(pattern: str) -> Iterator[tuple[str, bool]]:
    """(path, is a directory) for every entry that `pattern` matches (Beam glob syntax)."""
    if pattern.endswith("/"):
        pattern += "*"  # as FileSystems.match does
    prefix = re.match(r"^[^[*?]*", pattern).group(0)
    if prefix == pattern:  # no wildcard: the path itself, whatever it is
        if os.path.lexists(pattern):
            yield pattern, os.path.isdir(pattern) and not os.path.islink(pattern)
        return
    root = prefix if prefix.endswith("/") else os.path.dirname(prefix)
    if not os.path.isdir(root):
        return
    from apache_beam.io.filesystem import FileSystem

    match = re.compile(FileSystem.translate_pattern(pattern)).match

    def unlisted(e: OSError) -> None:
        logger.warning("%s: cannot list (%s); the files in it are not seen", e.filename, e)

    # Links to directories are entries, not followed (as Beam's `**`): no cycles.
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted):
        dirnames.sort()
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if match(path):
                yield path, not os.path.islink(path)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if match(path):
                yield path, False


def has_match(pattern: str) -> bool:
    """True if the glob matches anything (cheap: stops at the first entry)."""
    if is_local(pattern):
        return next(_local_entries(pattern), None) is not None
    from apache_beam.io.filesystems import FileSystems

    return bool(FileSystems.match([pattern], limits=[1])[0].metadata_list)


def list_matches(pattern: str) -> list[str]:
    """Every path the glob matches, sorted: files, dangling links, FIFOs, sockets, directories.

    A directory is an input (to be rejected) only when nothing below it matches too: under
    `images/**` the sub-folders are where the images are, under `images/*.jpg` a folder named
    `x.jpg` is a mistake to report. Object stores (gs://, s3://) list through Beam.
    """
    if not is_local(pattern):
        from apache_beam.io.filesystems import FileSystems

        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    entries = list(_local_entries(pattern))
    containers: set[str] = set()
    for path, _ in entries:
        parent = os.path.dirname(path)
        while parent and parent not in containers and parent != os.path.dirname(parent):
            containers.add(parent)
            parent = os.path.dirname(parent)
    return sorted(path for path, is_dir in entries if not (is_dir and path in containers))
