"""Reason codes for rejected stories and images (exact strings: reports and tests key on them)."""

from __future__ import annotations

from collections.abc import Sequence

MISSING_IMAGE = "missing_image"
OUTSIDE_DATA_ROOT = "outside_data_root"
EMPTY_FILE = "empty_file"
UNDECODABLE = "undecodable"
NOT_AN_IMAGE = "not_an_image"
TOO_LARGE = "too_large"
INCOMPLETE_STORY = "incomplete_story"
EMPTY_TEXT = "empty_text"
DUPLICATE_ID = "duplicate_id"
MALFORMED_RECORD = "malformed_record"

# Where the file is (found? inside the data root?) before what it holds.
IMAGE_REASONS = (
    MISSING_IMAGE,
    OUTSIDE_DATA_ROOT,
    EMPTY_FILE,
    NOT_AN_IMAGE,
    UNDECODABLE,
    TOO_LARGE,
)

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

# One line per code for the report's legend (what it means, what to do about it).
DESCRIPTIONS = {
    MALFORMED_RECORD: "an annotation the reader cannot represent (JSON path and why in detail)",
    DUPLICATE_ID: "the id was already used by an earlier record (the first one is kept)",
    INCOMPLETE_STORY: "a SIS story or DII sequence without exactly 5 photos",
    EMPTY_TEXT: "a photo's sentence or description is empty",
    MISSING_IMAGE: "no readable image file for the photo",
    OUTSIDE_DATA_ROOT: "the image path (a symlink, a '..') leads outside the data root: not read",
    EMPTY_FILE: "the image file has 0 bytes",
    NOT_AN_IMAGE: "the file is not in an image format (its kind and size are named, not shown)",
    UNDECODABLE: "an image header, but the pixels do not decode (truncated, corrupt)",
    TOO_LARGE: "above a limit: file bytes (max_bytes), pixels (max_pixels) or aspect ratio",
}

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
