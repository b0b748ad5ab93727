"""Typed records the readers produce and every later stage consumes.

Field names follow the VIST / Karpathy JSON they come from. Tuples keep records hashable and
cheap (the real SIS train file has ~200k annotations).
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SisStory:
    """One VIST story-in-sequence: photos ordered by `worker_arranged_photo_order`."""

    story_id: str
    album_id: str
    split: str
    photo_ids: tuple[str, ...]
    sentences: tuple[str, ...]  # the annotations' `text` (VIST's lower-cased, tokenised text)
    original_sentences: tuple[str, ...]  # `original_text`
    source: str = ""  # the annotation file it came from


@dataclass(frozen=True)
class DiiSequence:
    """The descriptions-in-isolation of one album's photo sequence.

    Photos are ordered by `photo_order_in_story`; each photo carries every worker's description.
    """

    sequence_id: str  # the album id: DII describes one photo sequence per album
    album_id: str
    split: str
    photo_ids: tuple[str, ...]
    descriptions: tuple[tuple[str, ...], ...]  # per photo: all descriptions (`text`)
    source: str = ""


@dataclass(frozen=True)
class KarpathyImage:
    """One image of a Karpathy-style caption file (dataset_{coco,flickr8k,flickr30k}.json)."""

    image_id: str
    filename: str
    filepath: str  # "" when the file has no `filepath` (flickr8k/30k)
    split: str  # as written: train / val / test / restval
    sentences: tuple[str, ...]  # `raw`
    tokens: tuple[tuple[str, ...], ...]
    source: str = ""
