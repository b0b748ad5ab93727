"""Streaming writers for files in the official VIST and Karpathy layouts.

For generated data (tests, the synthetic dataset, benchmarks): items are written one at a time
from iterables, so a multi-hundred-MB file never exists in memory, and the file appears
atomically (written beside the target, then renamed). `sis_annotation`, `dii_annotation`,
`image_entry` and `album_entry` fill every field the schemas require with plausible values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import IO, Any

from vistflow.outputs import open_committed

_TYPES = {"sis": "story_in_sequence", "dii": "description_in_isolation"}
_TIERS = {"sis": "story-in-sequence", "dii": "descriptions-in-isolation"}


def sis_annotation(
    story_id: str,
    album_id: str,
    photo_id: str,
    order: int,
    text: str,
    *,
    original_text: str | None = None,
    storylet_id: str | None = None,
    worker_id: str = "WORKER0",
    setting: str = "first-2-pick-and-tell",
) -> dict[str, Any]:
    """A SIS annotation with every field of the official files."""
    return {
        "original_text": text if original_text is None else original_text,
        "album_id": album_id,
        "photo_flickr_id": photo_id,
        "setting": setting,
        "worker_id": worker_id,
        "story_id": story_id,
        "tier": _TIERS["sis"],
        "worker_arranged_photo_order": order,
        "text": text,
        "storylet_id": storylet_id if storylet_id is not None else f"{story_id}-{order}",
    }


def dii_annotation(
    album_id: str,
    photo_id: str,
    order: int,
    text: str,
    *,
    original_text: str | None = None,
    worker_id: str = "WORKER0",
) -> dict[str, Any]:
    """A DII annotation with exactly the fields of the official files (no `setting`)."""
    return {
        "original_text": text if original_text is None else original_text,
        "album_id": album_id,
        "photo_flickr_id": photo_id,
        "worker_id": worker_id,
        "photo_order_in_story": order,
        "tier": _TIERS["dii"],
        "text": text,
    }


def image_entry(photo_id: str, album_id: str, *, title: str = "", tags: str = "") -> dict[str, str]:
    """An `images[]` entry (Flickr metadata, all strings as in the official files)."""
    return {
        "datetaken": "2016-01-01 12:00:00",
        "license": "5",
        "title": title,
        "text": "",
        "album_id": album_id,
        "longitude": "0",
        "url_o": f"https://example.invalid/{photo_id}_o.jpg",
        "secret": "0123456789",
        "media": "photo",
        "latitude": "0",
        "id": photo_id,
        "tags": tags,
    }


def album_entry(album_id: str, photos: int, *, title: str = "", label: str = "") -> dict[str, str]:
    """An `albums[]` entry (counts are decimal strings, as in the official files)."""
    return {
        "description": "",
        "title": title,
        "farm": "1",
        "date_update": "1451606400",
        "primary": "",
        "server": "1",
        "date_create": "1451606400",
        "photos": str(photos),
        "secret": "0123456789",
        "owner": "00000000@N00",
        "vist_label": label,
        "id": album_id,
    }


def write_vist_file(
    path: str | os.PathLike,
    kind: str,
    annotations: Iterable[Mapping[str, Any]],
    *,
    albums: Iterable[Mapping[str, Any]] = (),
    images: Iterable[Mapping[str, Any]] = (),
    info: Mapping[str, Any] | None = None,
) -> int:
    """Writes a SIS or DII file in the official layout; returns the number of annotations.

    Each annotation is wrapped in a one-element list, as in the released files.
    """
    if kind not in _TYPES:
        raise ValueError(f"kind must be 'sis' or 'dii', got {kind!r}")
    info = dict(info) if info is not None else {"version": "1.0", "description": "vistflow"}
    with _atomic(path) as f:
        f.write('{"info": ' + json.dumps(info) + ', "type": ' + json.dumps(_TYPES[kind]))
        f.write(', "albums": ')
        _write_array(f, albums)
        f.write(', "images": ')
        _write_array(f, images)
        f.write(', "annotations": ')
        count = _write_array(f, ([a] for a in annotations))
        f.write("}")
    return count


def write_karpathy_file(
    path: str | os.PathLike, images: Iterable[Mapping[str, Any]], *, dataset: str = "flickr8k"
) -> int:
    """Writes a Karpathy caption file; returns the number of images."""
    with _atomic(path) as f:
        f.write('{"images": ')
        count = _write_array(f, images)
        f.write(', "dataset": ' + json.dumps(dataset) + "}")
    return count


def _write_array(f: IO[str], items: Iterable[Any]) -> int:
    f.write("[")
    count = 0
    for item in items:
        if count:
            f.write(", ")
        f.write(json.dumps(item))
        count += 1
    f.write("]")
    return count


def _atomic(path: str | os.PathLike):
    """Opens a hidden sibling of `path` for writing; it replaces `path` only on success."""
    return open_committed(path, "w")
