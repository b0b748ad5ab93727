"""Summarise a VIST data root (official layout): stories, photos, albums, text, missing images.

Per split: SIS stories, photo slots in stories, unique SIS photos, SIS albums, DII sequences
and descriptions, mean SIS sentence length (whitespace tokens of `text`), SIS vocabulary size,
images referenced by SIS or DII with no file under images/<split>/, and records the readers
could not represent (counted and logged, not fatal: `vistflow validate` is the strict check).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vistflow.data import layout, readers
from vistflow.errors import VistflowError
from vistflow.records import SPLITS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitSummary:
    """Counts for one split. Files absent from the data root count as zero (see `has_*`)."""

    split: str
    has_sis: bool
    has_dii: bool
    stories: int
    photos: int  # photo slots over all stories (a photo in two stories counts twice)
    unique_photos: int
    albums: int
    dii_sequences: int
    dii_descriptions: int
    sentence_length_mean: float  # whitespace tokens per SIS `text`
    vocabulary_size: int  # distinct lower-cased SIS tokens
    missing_images: int  # distinct SIS/DII photo ids without an image file
    malformed_records: int


def summarize_split(root: str | os.PathLike, split: str) -> SplitSummary:
    """Reads one split's SIS and DII files (when present) and counts."""
    malformed = 0

    def count_malformed(file: str, path: str, reason: str, record: Any) -> None:
        nonlocal malformed
        malformed += 1
        log.warning("%s: %s: %s (skipped)", file, path, reason)

    sis_file, dii_file = layout.sis_path(root, split), layout.dii_path(root, split)
    stories = photos = sentences = tokens = 0
    sis_photos: set[str] = set()
    albums: set[str] = set()
    vocabulary: set[str] = set()
    if sis_file.is_file():
        for story in readers.read_sis(sis_file, split=split, on_malformed=count_malformed):
            stories += 1
            photos += len(story.photo_ids)
            sis_photos.update(story.photo_ids)
            albums.add(story.album_id)
            for text in story.sentences:
                words = text.lower().split()
                sentences += 1
                tokens += len(words)
                vocabulary.update(words)
    sequences = descriptions = 0
    dii_photos: set[str] = set()
    if dii_file.is_file():
        for seq in readers.read_dii(dii_file, split=split, on_malformed=count_malformed):
            sequences += 1
            dii_photos.update(seq.photo_ids)
            descriptions += sum(len(d) for d in seq.descriptions)
    index = layout.image_index(root, split)
    missing = sum(1 for photo in sis_photos | dii_photos if index.find(photo) is None)
    return SplitSummary(
        split=split,
        has_sis=sis_file.is_file(),
        has_dii=dii_file.is_file(),
        stories=stories,
        photos=photos,
        unique_photos=len(sis_photos),
        albums=len(albums),
        dii_sequences=sequences,
        dii_descriptions=descriptions,
        sentence_length_mean=round(tokens / sentences, 3) if sentences else 0.0,
        vocabulary_size=len(vocabulary),
        missing_images=missing,
        malformed_records=malformed,
    )


def summarize(root: str | os.PathLike) -> list[SplitSummary]:
    """Summaries of every split with a SIS or DII file; raises VistflowError if there is none."""
    root = Path(root)
    if not root.is_dir():
        raise VistflowError(f"{root}: data root is not a directory")
    present = [
        s
        for s in SPLITS
        if layout.sis_path(root, s).is_file() or layout.dii_path(root, s).is_file()
    ]
    if not present:
        raise VistflowError(
            f"{root}: no VIST annotation files (expected sis/<split>.story-in-sequence.json "
            "or dii/<split>.description-in-isolation.json)"
        )
    return [summarize_split(root, split) for split in present]


_COLUMNS = (
    ("stories", "stories"),
    ("photos", "photos"),
    ("unique_photos", "unique photos"),
    ("albums", "albums"),
    ("dii_sequences", "DII sequences"),
    ("dii_descriptions", "DII descriptions"),
    ("sentence_length_mean", "sentence length (mean)"),
    ("vocabulary_size", "vocabulary"),
    ("missing_images", "missing images"),
    ("malformed_records", "malformed records"),
)


def format_table(summaries: list[SplitSummary]) -> str:
    """A fixed-width table: one row per statistic, one column per split."""
    label_width = max(len(label) for _, label in _COLUMNS)
    header = f"{'':<{label_width}}" + "".join(f"{s.split:>10}" for s in summaries)
    lines = [header]
    for key, label in _COLUMNS:
        cells = []
        for s in summaries:
            value = getattr(s, key)
            cells.append(f"{value:>10.2f}" if isinstance(value, float) else f"{value:>10}")
        lines.append(f"{label:<{label_width}}" + "".join(cells))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", required=True, help="VIST root in the official layout")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args: argparse.Namespace) -> int:
    summaries = summarize(args.data_root)
    if args.json:
        print(json.dumps({s.split: asdict(s) for s in summaries}, indent=2))
    else:
        print(format_table(summaries))
    return 0
