"""Reason codes for rejected images and stories: the one list every stage names its rejects from.

Ingest's rejects.jsonl and quality report, batch captioning's rejects and metrics counters, the
shared decoder's `ImageError.reason`, the server and the caption/story CLIs all write these exact
strings (reports, counters and tests key on them). Which of them a stage can emit, and in which
order it lists them, is the stage's own (`components/vist_example_gen/reasons.py`,
`serving/batch_caption.py`).
"""

from __future__ import annotations

# --- an image file: where it is before what it holds ---
MISSING_IMAGE = "missing_image"  # no such file (or a dangling symbolic link, or unreadable)
OUTSIDE_DATA_ROOT = "outside_data_root"  # the path leaves the data root: never read
NOT_A_FILE = "not_a_file"  # a directory, FIFO, socket or device: never opened
EMPTY_FILE = "empty_file"
NOT_AN_IMAGE = "not_an_image"
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
INFERENCE_FAILED = "inference_failed"  # a checked image the model failed on

# --- a story / record ---
INCOMPLETE_STORY = "incomplete_story"
EMPTY_TEXT = "empty_text"
DUPLICATE_ID = "duplicate_id"
MALFORMED_RECORD = "malformed_record"

# One line per code (what it means, what to do about it): the legend of ingest's report.
DESCRIPTIONS = {
    MALFORMED_RECORD: "an annotation the reader cannot represent (JSON path and why in detail)",
    DUPLICATE_ID: "the id was already used by an earlier record (the first one is kept)",
    INCOMPLETE_STORY: "a SIS story or DII sequence without exactly 5 photos",
    EMPTY_TEXT: "a photo's sentence or description is empty",
    MISSING_IMAGE: "no readable image file for the photo",
    OUTSIDE_DATA_ROOT: "the image path (a symlink, a '..') leads outside the data root: not read",
    NOT_A_FILE: "a directory, FIFO, socket or device, not a regular file: not opened",
    EMPTY_FILE: "the image file has 0 bytes",
    NOT_AN_IMAGE: "the file is not in an image format (its kind and size are named, not shown)",
    UNDECODABLE: "an image header, but the pixels do not decode (truncated, corrupt)",
    TOO_LARGE: "above a limit: file bytes (max_bytes), pixels (max_pixels) or aspect ratio",
    INFERENCE_FAILED: "the image passed its checks but the model failed on it",
}
