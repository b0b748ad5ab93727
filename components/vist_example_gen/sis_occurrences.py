"""SIS stories as they occur in the file, so a reused `story_id` is seen as a duplicate.

`vistflow.data.readers.read_sis` groups annotations by `story_id`: a second story that reuses an
id (a real VIST defect) is merged into the first one, which then looks like a 10-photo story.
Ingest must instead keep the first occurrence and reject the later one as `duplicate_id`, so it
groups annotations by *occurrence*: a contiguous run of one `story_id` starts a story; a later
run of an id already seen continues that story only when it plausibly belongs to it (same album,
a photo position the story does not have yet), and is a new, duplicate occurrence otherwise.

An annotation that cannot be read but names its story (a usable `story_id`) stays with that
story as a fault, so the story is rejected once as `malformed_record` instead of twice (once for
the bad annotation, once more as a 4-photo `incomplete_story`). Annotations without a usable
`story_id` go to `on_malformed`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from vistflow.data.jsonstream import json_path, short_repr, type_name
from vistflow.data.readers import OnMalformed, iter_sis_annotations
from vistflow.records import SisStory

_STR_FIELDS = ("story_id", "album_id", "photo_flickr_id")


class _Bad(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


def _fields(ann: dict) -> tuple[str, str, str, int, str, str]:
    # The same rules as readers.read_sis: ids non-empty strings, order an integer, text strings
    # (empty text is representable: ingest rejects it as empty_text, not malformed_record).
    values: list[Any] = []
    for key in _STR_FIELDS:
        value = ann.get(key)
        if key not in ann:
            raise _Bad(key, "missing required field")
        if not isinstance(value, str):
            raise _Bad(key, f"expected string, got {type_name(value)} {short_repr(value)}")
        if not value:
            raise _Bad(key, "must not be empty")
        values.append(value)
    order = ann.get("worker_arranged_photo_order")
    if "worker_arranged_photo_order" not in ann:
        raise _Bad("worker_arranged_photo_order", "missing required field")
    if isinstance(order, bool) or not (
        isinstance(order, int) or isinstance(order, float) and order.is_integer()
    ):
        raise _Bad(
            "worker_arranged_photo_order",
            f"expected integer, got {type_name(order)} {short_repr(order)}",
        )
    values.append(int(order))
    for key in ("text", "original_text"):
        if key not in ann:
            raise _Bad(key, "missing required field")
        if not isinstance(ann[key], str):
            raise _Bad(key, f"expected string, got {type_name(ann[key])} {short_repr(ann[key])}")
        values.append(ann[key])
    return tuple(values)  # type: ignore[return-value]


class _Occurrence:
    __slots__ = ("story_id", "album_id", "rows", "orders", "indices", "faults")

    def __init__(self, story_id: str, album_id: str):
        self.story_id, self.album_id = story_id, album_id
        self.rows: list[tuple[int, int, str, str, str]] = []
        self.orders: set[int] = set()
        self.indices: list[int] = []  # positions in `annotations`, for the JSON path
        self.faults: list[tuple[str, str]] = []  # (JSON path, reason) of unreadable annotations

    def add(self, index: int, order: int, seq: int, photo_id: str, text: str, original: str):
        self.rows.append((order, seq, photo_id, text, original))
        self.orders.add(order)
        self.indices.append(index)

    def json_path(self) -> str:
        first, last = self.indices[0], self.indices[-1]
        if self.indices == list(range(first, last + 1)):
            return f"$.annotations[{first}:{last + 1}]"
        return "$.annotations[" + ",".join(map(str, self.indices)) + "]"


def read_sis_occurrences(
    path: str, *, split: str, on_malformed: OnMalformed
) -> Iterator[tuple[SisStory, str, list[tuple[str, str]]]]:
    """Yields (story, JSON path of its annotations, faults) per occurrence, in first-seen order.

    Duplicated ids yield several stories with the same `story_id` (told apart by the JSON path,
    e.g. `$.annotations[35:40]`); photos are ordered by `worker_arranged_photo_order`, then file
    order. `faults` lists (JSON path, reason) of the story's annotations that could not be read.
    """
    file = str(path)
    intern = sys.intern
    occurrences: list[_Occurrence | None] = []
    first_by_id: dict[str, int] = {}  # story_id -> index of its first occurrence
    current: _Occurrence | None = None
    seq = 0
    for index, ann in iter_sis_annotations(path, on_malformed=on_malformed):
        try:
            story_id, album_id, photo_id, order, text, original = _fields(ann)
        except _Bad as e:
            where = json_path(("annotations", index, 0, e.field))
            owner, is_new = _owner_of_unreadable(ann, current, occurrences, first_by_id)
            if owner is None:
                on_malformed(file, where, e.reason, ann)
            else:
                if is_new:
                    first_by_id.setdefault(owner.story_id, len(occurrences))
                    occurrences.append(owner)
                owner.faults.append((where, e.reason))
                owner.indices.append(index)
                current = owner
            continue
        if current is None or current.story_id != story_id:
            first = first_by_id.get(story_id)
            earlier = occurrences[first] if first is not None else None
            if earlier is not None and earlier.album_id == album_id and order not in earlier.orders:
                current = earlier  # the rest of a story whose annotations were not contiguous
            else:
                current = _Occurrence(intern(story_id), intern(album_id))
                first_by_id.setdefault(current.story_id, len(occurrences))
                occurrences.append(current)
        current.add(index, order, seq, intern(photo_id), text, original)
        seq += 1
    for i, occ in enumerate(occurrences):
        occurrences[i] = None  # release as the caller consumes
        occ.rows.sort()
        occ.indices.sort()
        story = SisStory(
            story_id=occ.story_id,
            album_id=occ.album_id,
            split=split,
            photo_ids=tuple(r[2] for r in occ.rows),
            sentences=tuple(r[3] for r in occ.rows),
            original_sentences=tuple(r[4] for r in occ.rows),
            source=file,
        )
        yield story, occ.json_path(), occ.faults


def _owner_of_unreadable(
    ann: dict,
    current: _Occurrence | None,
    occurrences: list[_Occurrence | None],
    first_by_id: dict[str, int],
) -> tuple[_Occurrence | None, bool]:
    """(story an unreadable annotation belongs to, whether it is a new one); None: no usable id."""
    story_id = ann.get("story_id")
    if not isinstance(story_id, str) or not story_id:
        return None, False
    if current is not None and current.story_id == story_id:
        return current, False
    first = first_by_id.get(story_id)
    if first is not None and occurrences[first] is not None:
        return occurrences[first], False
    album_id = ann.get("album_id")
    album_id = sys.intern(album_id) if isinstance(album_id, str) else ""
    return _Occurrence(sys.intern(story_id), album_id), True
