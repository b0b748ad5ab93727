"""The unit ingest filters and writes: one SIS story, DII photo sequence or Karpathy image.

Readers yield different dataclasses (`vistflow.records`); everything after reading works on
`IngestItem`, so the filter, the writer and the report have one code path for all three tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.vist_example_gen.tfrecord import build_sequence_example
from vistflow import example_format as ef
from vistflow.records import DiiSequence, KarpathyImage, SisStory

TASK_SIS, TASK_DII, TASK_CAPTION = ef.TASKS
PHOTOS_PER_STORY = 5  # VIST SIS stories and DII sequences have exactly five photos


@dataclass(frozen=True)
class ImageRef:
    """Where to find one photo's file: by VIST layout lookup (`uri` empty) or an explicit path."""

    split: str
    photo_id: str
    uri: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.split, self.photo_id, self.uri)


@dataclass(frozen=True)
class IngestItem:
    """One story / sequence / captioned image, in the order the input file defines it."""

    task: str  # one of example_format.TASKS
    id: str
    album_id: str
    split: str
    photo_ids: tuple[str, ...]
    texts: tuple[tuple[str, ...], ...]  # per photo: its sentence(s)
    source: str  # file and JSON path of the record(s)
    order: tuple[int, int]  # (input file index, record index): "first occurrence" for duplicates
    refs: tuple[ImageRef, ...] = field(default=())
    # (reason, detail) known while reading: annotations of this story that could not be read.
    faults: tuple[tuple[str, str], ...] = field(default=())

    @property
    def key(self) -> tuple[str, str, int, int]:
        """Unique per parsed record, even for duplicate ids."""
        return (self.task, self.id, *self.order)

    @property
    def id_key(self) -> tuple[str, str]:
        """What must be unique: the id within its task."""
        return (self.task, self.id)

    def to_example(self, image_uris: tuple[str, ...]) -> bytes:
        """The serialized tf.train.SequenceExample (keys from vistflow.example_format)."""
        return build_sequence_example(
            {ef.ID: self.id, ef.ALBUM_ID: self.album_id, ef.SPLIT: self.split, ef.TASK: self.task},
            {
                ef.PHOTO_ID: [[p] for p in self.photo_ids],
                ef.IMAGE_URI: [[u] for u in image_uris],
                ef.TEXT: [list(t) for t in self.texts],
            },
        )


def _json_path_for(field_name: str, value: str) -> str:
    return f'$.annotations[*][?(@.{field_name}=="{value}")]'


def from_sis(
    story: SisStory,
    *,
    split: str,
    source: str,
    order: tuple[int, int],
    json_path: str = "",
    faults: tuple[tuple[str, str], ...] = (),
) -> IngestItem:
    """A SIS story: one sentence per photo, in `worker_arranged_photo_order`."""
    return IngestItem(
        task=TASK_SIS,
        id=story.story_id,
        album_id=story.album_id,
        split=split,
        photo_ids=tuple(story.photo_ids),
        texts=tuple((s,) for s in story.sentences),
        source=f"{story.source or source}: {json_path or _json_path_for('story_id', story.story_id)}",
        order=order,
        refs=tuple(ImageRef(split, p) for p in story.photo_ids),
        faults=faults,
    )


def from_dii(
    seq: DiiSequence,
    *,
    split: str,
    source: str,
    order: tuple[int, int],
    faults: tuple[tuple[str, str], ...] = (),
) -> IngestItem:
    """A DII sequence: every worker's description per photo, in `photo_order_in_story`."""
    return IngestItem(
        task=TASK_DII,
        id=seq.sequence_id,
        album_id=seq.album_id,
        split=split,
        photo_ids=tuple(seq.photo_ids),
        texts=tuple(tuple(d) for d in seq.descriptions),
        source=f"{seq.source or source}: {_json_path_for('album_id', seq.album_id)}",
        order=order,
        refs=tuple(ImageRef(split, p) for p in seq.photo_ids),
        faults=faults,
    )


def karpathy_split(split: str) -> str:
    """`restval` is COCO's extra training pool (Karpathy's and every later captioner's usage)."""
    return "train" if split == "restval" else split


def from_karpathy(
    image: KarpathyImage, *, image_root: str, source: str, order: tuple[int, int]
) -> IngestItem:
    """A Karpathy image: one photo carrying all its reference captions (`raw`)."""
    from apache_beam.io.filesystems import FileSystems

    split = karpathy_split(image.split)
    parts = [p for p in (image.filepath, image.filename) if p]
    uri = FileSystems.join(image_root, *parts)
    return IngestItem(
        task=TASK_CAPTION,
        id=image.image_id,
        album_id="",
        split=split,
        photo_ids=(image.image_id,),
        texts=(tuple(image.sentences),),
        source=f"{image.source or source}: $.images[{order[1]}]",
        order=order,
        refs=(ImageRef(split, image.image_id, uri),),
    )
