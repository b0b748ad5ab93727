"""Streaming readers: VIST SIS/DII and Karpathy caption JSON -> the records in vistflow.records.

Readers only refuse what they cannot represent. A story with 4 or 6 photos, empty text or a
duplicate id is yielded as it is: the ingest stage judges it and assigns a reason code. A record
that cannot become a dataclass at all (missing `story_id`, a non-integer photo order, ...) goes
to `on_malformed(file, json_path, reason, raw_record)`; without a callback it raises
`InputFormatError`. Broken JSON always raises `InputFormatError` with the byte offset, line,
column and JSON path.

Memory: SIS and DII group annotations by story/album, which needs every annotation of a group.
Annotations are kept as compact tuples of interned ids and sentence strings, never as dicts:
`python -m benchmarks.reader_memory` measures the peak.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vistflow.data.jsonstream import iter_array_items, json_path, short_repr, type_name
from vistflow.errors import InputFormatError, VistflowError
from vistflow.records import SPLITS, DiiSequence, KarpathyImage, SisStory

log = logging.getLogger(__name__)

# (file, json_path, reason, raw_record) -> None. Called for records that cannot be represented.
OnMalformed = Callable[[str, str, str, Any], None]

__all__ = [
    "OnMalformed",
    "iter_dii_annotations",
    "iter_sis_annotations",
    "read_dii",
    "read_karpathy",
    "read_sis",
    "split_from_filename",
]


def split_from_filename(path: str | os.PathLike) -> str | None:
    """`train.story-in-sequence.json` -> "train"; None when the name carries no split."""
    first = Path(path).name.split(".", 1)[0]
    return first if first in SPLITS else None


def _resolve_split(path: str | os.PathLike, split: str | None) -> str:
    if split is not None:
        return split
    inferred = split_from_filename(path)
    if inferred is None:
        raise VistflowError(
            f"{path}: cannot infer the split from the file name (expected "
            f"<{'|'.join(SPLITS)}>.<...>.json); pass split= explicitly"
        )
    return inferred


def _raise_malformed(file: str, path: str, reason: str, record: Any) -> None:
    raise InputFormatError(file, path, reason)


class _Malformed(Exception):
    """A record that cannot be represented: JSON path parts below the record, and why."""

    def __init__(self, parts: tuple[str | int, ...], reason: str):
        super().__init__(reason)
        self.parts, self.reason = parts, reason


def _field_str(record: dict, key: str, *, non_empty: bool) -> str:
    if key not in record:
        raise _Malformed((key,), "missing required field")
    value = record[key]
    if not isinstance(value, str):
        raise _Malformed((key,), f"expected string, got {type_name(value)} {short_repr(value)}")
    if non_empty and not value:
        raise _Malformed((key,), "must not be empty")
    return value


def _field_int(record: dict, key: str) -> int:
    if key not in record:
        raise _Malformed((key,), "missing required field")
    value = record[key]
    if isinstance(value, bool) or not (
        isinstance(value, int) or isinstance(value, float) and value.is_integer()
    ):
        raise _Malformed((key,), f"expected integer, got {type_name(value)} {short_repr(value)}")
    return int(value)


def _iter_annotations(
    path: str | os.PathLike, on_malformed: OnMalformed
) -> Iterator[tuple[int, tuple[str | int, ...], dict]]:
    """(index, JSON path parts, annotation) for each annotation of a VIST file.

    Real files wrap each annotation in a one-element list; a bare object is accepted too (the
    validator, not the reader, enforces the official shape).
    """
    file = str(path)
    for index, item in iter_array_items(path, "annotations"):
        if isinstance(item, dict):
            yield index, ("annotations", index), item
            continue
        if not isinstance(item, list) or not item:
            reason = (
                "empty annotation list"
                if isinstance(item, list)
                else f"expected a list holding an annotation object, got {type_name(item)}"
            )
            on_malformed(file, json_path(("annotations", index)), reason, item)
            continue
        for inner, annotation in enumerate(item):
            parts = ("annotations", index, inner)
            if isinstance(annotation, dict):
                yield index, parts, annotation
            else:
                reason = f"expected an annotation object, got {type_name(annotation)}"
                on_malformed(file, json_path(parts), reason, annotation)


def iter_sis_annotations(
    path: str | os.PathLike, *, on_malformed: OnMalformed | None = None
) -> Iterator[tuple[int, dict]]:
    """Yields (index in `annotations`, raw annotation dict) of a SIS file, in file order.

    Only the container shape is checked (entries that are not annotation objects go to
    `on_malformed`); the annotation's fields are the caller's business.
    """
    for index, _parts, annotation in _iter_annotations(path, on_malformed or _raise_malformed):
        yield index, annotation


def iter_dii_annotations(
    path: str | os.PathLike, *, on_malformed: OnMalformed | None = None
) -> Iterator[tuple[int, dict]]:
    """Yields (index in `annotations`, raw annotation dict) of a DII file, in file order."""
    # DII files share the SIS container layout; only the annotation fields differ.
    yield from iter_sis_annotations(path, on_malformed=on_malformed)


def read_sis(
    path: str | os.PathLike,
    *,
    split: str | None = None,
    on_malformed: OnMalformed | None = None,
) -> Iterator[SisStory]:
    """Yields the stories of a SIS file in order of first appearance.

    Annotations are grouped by (`story_id`, `album_id`) and ordered by
    `worker_arranged_photo_order` (file order breaks ties). A story id reused under another album
    is a duplicate, not more sentences of the same story: it is yielded as a second story with
    the same `story_id`, for the ingest stage to reject as `duplicate_id`.

    Args:
      path: a `<split>.story-in-sequence.json` file.
      split: recorded on each story; inferred from the file name when None.
      on_malformed: receives annotations that cannot be read; default: raise InputFormatError.
    """
    split = _resolve_split(path, split)
    report = on_malformed or _raise_malformed
    file = str(path)
    intern = sys.intern
    # (story_id, album_id) -> [(order, seq, photo_id, text, original_text), ...]
    stories: dict[tuple[str, str], list[tuple[int, int, str, str, str]]] = {}
    seq = 0
    for _index, parts, ann in _iter_annotations(path, report):
        try:
            story_id = _field_str(ann, "story_id", non_empty=True)
            album_id = _field_str(ann, "album_id", non_empty=True)
            photo_id = _field_str(ann, "photo_flickr_id", non_empty=True)
            order = _field_int(ann, "worker_arranged_photo_order")
            text = _field_str(ann, "text", non_empty=False)
            original = _field_str(ann, "original_text", non_empty=False)
        except _Malformed as e:
            report(file, json_path(parts + e.parts), e.reason, ann)
            continue
        key = (story_id, album_id)
        rows = stories.get(key)
        if rows is None:
            rows = stories[(intern(story_id), intern(album_id))] = []
        rows.append((order, seq, intern(photo_id), text, original))
        seq += 1
    log.debug("%s: %d annotations in %d stories", file, seq, len(stories))
    # Pop as we go so memory shrinks while the caller consumes stories.
    for key in list(stories):
        rows = stories.pop(key)
        story_id, album_id = key
        rows.sort()  # (order, seq) are unique: never compares the strings
        yield SisStory(
            story_id=story_id,
            album_id=album_id,
            split=split,
            photo_ids=tuple(r[2] for r in rows),
            sentences=tuple(r[3] for r in rows),
            original_sentences=tuple(r[4] for r in rows),
            source=file,
        )


def read_dii(
    path: str | os.PathLike,
    *,
    split: str | None = None,
    on_malformed: OnMalformed | None = None,
) -> Iterator[DiiSequence]:
    """Yields one photo sequence per album of a DII file, in order of first appearance.

    Photos are ordered by `photo_order_in_story` (a photo seen at several positions takes the
    smallest; first appearance breaks ties) and carry every description written for them, in
    file order.

    Args:
      path: a `<split>.description-in-isolation.json` file.
      split: recorded on each sequence; inferred from the file name when None.
      on_malformed: receives annotations that cannot be read; default: raise InputFormatError.
    """
    split = _resolve_split(path, split)
    report = on_malformed or _raise_malformed
    file = str(path)
    intern = sys.intern
    # album_id -> photo_id -> [order, seq, [texts]]
    albums: dict[str, dict[str, list[Any]]] = {}
    seq = 0
    for _index, parts, ann in _iter_annotations(path, report):
        try:
            album_id = _field_str(ann, "album_id", non_empty=True)
            photo_id = _field_str(ann, "photo_flickr_id", non_empty=True)
            order = _field_int(ann, "photo_order_in_story")
            text = _field_str(ann, "text", non_empty=False)
        except _Malformed as e:
            report(file, json_path(parts + e.parts), e.reason, ann)
            continue
        photos = albums.get(album_id)
        if photos is None:
            photos = albums[intern(album_id)] = {}
        entry = photos.get(photo_id)
        if entry is None:
            photos[intern(photo_id)] = [order, seq, [text]]
        else:
            entry[0] = min(entry[0], order)
            entry[2].append(text)
        seq += 1
    for album_id in list(albums):
        photos = albums.pop(album_id)
        ordered = sorted(photos.items(), key=lambda kv: (kv[1][0], kv[1][1]))
        yield DiiSequence(
            sequence_id=album_id,
            album_id=album_id,
            split=split,
            photo_ids=tuple(photo_id for photo_id, _ in ordered),
            descriptions=tuple(tuple(entry[2]) for _, entry in ordered),
            source=file,
        )


def read_karpathy(
    path: str | os.PathLike, *, on_malformed: OnMalformed | None = None
) -> Iterator[KarpathyImage]:
    """Yields the images of a Karpathy caption file (dataset_{coco,flickr8k,flickr30k}.json).

    `image_id` is the COCO id when the entry has `cocoid` (what COCO evaluation uses), else the
    file name without extension (stable across releases, unlike the positional `imgid`).
    """
    report = on_malformed or _raise_malformed
    file = str(path)
    for index, image in iter_array_items(path, "images"):
        parts: tuple[str | int, ...] = ("images", index)
        try:
            yield _karpathy_image(image, file)
        except _Malformed as e:
            report(file, json_path(parts + e.parts), e.reason, image)


def _karpathy_image(image: Any, file: str) -> KarpathyImage:
    if not isinstance(image, dict):
        raise _Malformed((), f"expected an image object, got {type_name(image)}")
    filename = _field_str(image, "filename", non_empty=True)
    filepath = _field_str(image, "filepath", non_empty=False) if "filepath" in image else ""
    split = _field_str(image, "split", non_empty=True)
    sentences = image.get("sentences")
    if not isinstance(sentences, list):
        if "sentences" not in image:
            raise _Malformed(("sentences",), "missing required field")
        raise _Malformed(("sentences",), f"expected array, got {type_name(sentences)}")
    raws: list[str] = []
    tokens: list[tuple[str, ...]] = []
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, dict):
            raise _Malformed(("sentences", i), f"expected object, got {type_name(sentence)}")
        try:
            raws.append(_field_str(sentence, "raw", non_empty=False))
            toks = sentence.get("tokens")
            if not isinstance(toks, list) or not all(isinstance(t, str) for t in toks):
                if "tokens" not in sentence:
                    raise _Malformed(("tokens",), "missing required field")
                raise _Malformed(("tokens",), "expected an array of strings")
            tokens.append(tuple(toks))
        except _Malformed as e:
            raise _Malformed(("sentences", i) + e.parts, e.reason) from None
    cocoid = image.get("cocoid")
    if isinstance(cocoid, int) and not isinstance(cocoid, bool):
        image_id = str(cocoid)
    else:
        image_id = filename.rsplit(".", 1)[0] if "." in filename else filename
    return KarpathyImage(
        image_id=image_id,
        filename=filename,
        filepath=filepath,
        split=split,
        sentences=tuple(raws),
        tokens=tuple(tokens),
        source=file,
    )
