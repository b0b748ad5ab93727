"""Reason codes for rejected stories and images (exact strings: reports and tests key on them)."""

from __future__ import annotations

from collections.abc import Sequence

MISSING_IMAGE = "missing_image"
EMPTY_FILE = "empty_file"
UNDECODABLE = "undecodable"
NOT_AN_IMAGE = "not_an_image"
TOO_LARGE = "too_large"
INCOMPLETE_STORY = "incomplete_story"
EMPTY_TEXT = "empty_text"
DUPLICATE_ID = "duplicate_id"
MALFORMED_RECORD = "malformed_record"

IMAGE_REASONS = (MISSING_IMAGE, EMPTY_FILE, NOT_AN_IMAGE, UNDECODABLE, TOO_LARGE)

# When a story has several faults its reject line carries all of them (`reasons`) and the first
# in this order as `reason`: record-level faults first (they make the image checks moot), then
# image faults in photo order.
ALL_REASONS = (
    MALFORMED_RECORD,
    DUPLICATE_ID,
    INCOMPLETE_STORY,
    EMPTY_TEXT,
    *IMAGE_REASONS,
)

# `kind` of a reject line: a story (or DII sequence / Karpathy image item) versus one image file.
KIND_STORY = "story"
KIND_IMAGE = "image"


def reject_line(
    *,
    kind: str,
    item_id: str,
    split: str,
    task: str,
    reason: str,
    detail: str,
    source: str,
    all_reasons: Sequence[str] = (),
    **extra,
) -> dict:
    """One line of rejects.jsonl (field order fixed: the file is compared byte-for-byte)."""
    return {
        "id": item_id,
        "split": split,
        "reason": reason,
        "detail": detail,
        "source": source,
        "kind": kind,
        "task": task,
        "reasons": list(all_reasons or [reason]),
        **extra,
    }
