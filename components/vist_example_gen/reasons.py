"""Ingest's reject reasons: which of the shared codes (`vistflow.reasons`, exact strings: reports
and tests key on them) ingest emits, in the order its reports list them, and a reject line."""

from __future__ import annotations

from collections.abc import Sequence

from vistflow.reasons import (  # noqa: F401 - ingest's codes, named here for its modules
    DESCRIPTIONS,
    DUPLICATE_ID,
    EMPTY_FILE,
    EMPTY_TEXT,
    INCOMPLETE_STORY,
    MALFORMED_RECORD,
    MISSING_IMAGE,
    NOT_AN_IMAGE,
    OUTSIDE_DATA_ROOT,
    TOO_LARGE,
    UNDECODABLE,
)

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
