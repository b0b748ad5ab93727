"""Paths of the official VIST manual-download layout.

    <root>/sis/{train,val,test}.story-in-sequence.json
    <root>/dii/{train,val,test}.description-in-isolation.json
    <root>/images/{train,val,test}/<photo_flickr_id>.<jpg|png|gif|bmp|...>

Image files carry whatever extension Flickr served, so lookups go through a per-directory index
(one directory listing) instead of a glob per photo: 200k globs over a 200k-file directory is
quadratic. The root may be a URI (gs://, s3://): the helpers then return "/"-joined strings
(Path() would fold `gs://b` into `gs:/b`) and list through tf.io.gfile (`vistflow.uri`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from vistflow import uri
from vistflow.errors import VistflowError
from vistflow.records import SPLITS

# When one photo id has several files, prefer the formats every decoder handles.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise VistflowError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    return split


def sis_path(root: str | os.PathLike, split: str) -> Path | str:
    """`<root>/sis/<split>.story-in-sequence.json` (a string when `root` is a URI)."""
    return uri.join(root, "sis", f"{_check_split(split)}.story-in-sequence.json")


def dii_path(root: str | os.PathLike, split: str) -> Path | str:
    """`<root>/dii/<split>.description-in-isolation.json` (a string when `root` is a URI)."""
    return uri.join(root, "dii", f"{_check_split(split)}.description-in-isolation.json")


def image_dir(root: str | os.PathLike, split: str) -> Path | str:
    """`<root>/images/<split>/` (a string when `root` is a URI)."""
    return uri.join(root, "images", _check_split(split))


def _file_names(directory: Path | str) -> list[str]:
    """Names of the (non-hidden) files in `directory`; [] if it is missing."""
    # A URI: one listing, no stat per entry (one request each on a bucket); "name/" entries are
    # prefixes. Anything else listed is checked when read (ingest rejects what is no image).
    if isinstance(directory, str):
        g = uri.gfile(directory)
        if not g.isdir(directory):
            return []
        return [n for n in g.listdir(directory) if not n.endswith("/") and not n.startswith(".")]
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return [e.name for e in entries if not e.name.startswith(".") and e.is_file()]


@dataclass(frozen=True)
class ImageIndex:
    """photo id -> image file of one image directory, from a single listing."""

    directory: Path | str
    files: dict[str, Path | str]

    @classmethod
    def build(cls, directory: str | os.PathLike) -> ImageIndex:
        """Lists `directory` once; a missing directory gives an empty index."""
        directory = uri.as_path(directory)
        best: dict[str, tuple[tuple[int, str], str]] = {}
        for name in _file_names(directory):
            stem, dot, ext = name.rpartition(".")
            if not dot:
                stem, ext = name, ""
            ext = "." + ext.lower() if dot else ""
            rank = IMAGE_EXTENSIONS.index(ext) if ext in IMAGE_EXTENSIONS else len(IMAGE_EXTENSIONS)
            key = (rank, name)
            if stem not in best or key < best[stem][0]:
                best[stem] = (key, name)
        files = {stem: uri.join(directory, name) for stem, (_, name) in best.items()}
        return cls(directory, files)

    def find(self, photo_id: str) -> Path | str | None:
        return self.files.get(photo_id)

    def __len__(self) -> int:
        return len(self.files)


# (directory, directory mtime) -> index. The mtime changes when files are added or removed, so a
# long-lived process (an Airflow worker) never serves a stale listing. A bucket "directory" has
# no mtime: its listing is reused for URI_LISTING_SECONDS instead.
_INDEXES: dict[tuple[str, int], ImageIndex] = {}
URI_LISTING_SECONDS = 60


def image_index(root: str | os.PathLike, split: str) -> ImageIndex:
    """The (cached) index of `<root>/images/<split>/`."""
    directory = image_dir(root, split)
    if isinstance(directory, str):
        key = (directory, int(time.monotonic() // URI_LISTING_SECONDS))
    else:
        try:
            mtime = directory.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = -1
        key = (str(directory.resolve()), mtime)
    index = _INDEXES.get(key)
    if index is None:
        # Drop stale listings of the same directory before caching the new one.
        for old in [k for k in _INDEXES if k[0] == key[0]]:
            del _INDEXES[old]
        index = _INDEXES[key] = ImageIndex.build(directory)
    return index


def find_image(root: str | os.PathLike, split: str, photo_id: str) -> Path | str | None:
    """The image file of `photo_id` in split `split` (any extension), or None if there is none."""
    return image_index(root, split).find(photo_id)
