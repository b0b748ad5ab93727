"""Paths of the official VIST manual-download layout.

    <root>/sis/{train,val,test}.story-in-sequence.json
    <root>/dii/{train,val,test}.description-in-isolation.json
    <root>/images/{train,val,test}/<photo_flickr_id>.<jpg|png|gif|bmp|...>

Image files carry whatever extension Flickr served, so lookups go through a per-directory index
(one directory listing) instead of a glob per photo: 200k globs over a 200k-file directory is
quadratic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


def sis_path(root: str | os.PathLike, split: str) -> Path:
    """`<root>/sis/<split>.story-in-sequence.json`."""
    return Path(root) / "sis" / f"{_check_split(split)}.story-in-sequence.json"


def dii_path(root: str | os.PathLike, split: str) -> Path:
    """`<root>/dii/<split>.description-in-isolation.json`."""
    return Path(root) / "dii" / f"{_check_split(split)}.description-in-isolation.json"


def image_dir(root: str | os.PathLike, split: str) -> Path:
    """`<root>/images/<split>/`."""
    return Path(root) / "images" / _check_split(split)


@dataclass(frozen=True)
class ImageIndex:
    """photo id -> image file of one image directory, from a single listing."""

    directory: Path
    files: dict[str, Path]

    @classmethod
    def build(cls, directory: str | os.PathLike) -> ImageIndex:
        """Lists `directory` once; a missing directory gives an empty index."""
        directory = Path(directory)
        best: dict[str, tuple[tuple[int, str], Path]] = {}
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            stem, dot, ext = entry.name.rpartition(".")
            if not dot:
                stem, ext = entry.name, ""
            ext = "." + ext.lower() if dot else ""
            rank = IMAGE_EXTENSIONS.index(ext) if ext in IMAGE_EXTENSIONS else len(IMAGE_EXTENSIONS)
            key = (rank, entry.name)
            if stem not in best or key < best[stem][0]:
                best[stem] = (key, Path(entry.path))
        return cls(directory, {stem: path for stem, (_, path) in best.items()})

    def find(self, photo_id: str) -> Path | None:
        return self.files.get(photo_id)

    def __len__(self) -> int:
        return len(self.files)


# (directory, directory mtime) -> index. The mtime changes when files are added or removed, so a
# long-lived process (an Airflow worker) never serves a stale listing.
_INDEXES: dict[tuple[str, int], ImageIndex] = {}


def image_index(root: str | os.PathLike, split: str) -> ImageIndex:
    """The (cached) index of `<root>/images/<split>/`."""
    directory = image_dir(root, split)
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


def find_image(root: str | os.PathLike, split: str, photo_id: str) -> Path | None:
    """The image file of `photo_id` in split `split` (any extension), or None if there is none."""
    return image_index(root, split).find(photo_id)
