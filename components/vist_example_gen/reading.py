"""Reading for ingest: annotation files -> IngestItems, plus malformed records as story rejects.

Every input record ends as exactly one item or one reject, so the report can check
input = accepted + rejected. A broken annotation whose story (SIS `story_id`) or photo sequence
(DII `album_id`) is known does not become a reject of its own: it is a fault of that story, which
is then rejected once as `malformed_record` (naming the annotation's JSON path and the reason).
Only annotations that name no usable story or album are rejects by themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from components.vist_example_gen import items, reasons
from vistflow.records import SPLITS

NAMESPACE = "vist_example_gen"
ITEMS = "items"
MALFORMED = "malformed"


@dataclass(frozen=True)
class InputFile:
    """One annotation file to read; `index` orders files for "first occurrence wins"."""

    index: int
    task: str  # sis / dii / caption
    split: str  # "" when records carry their own split (Karpathy)
    path: str


def _usable_id(raw, key: str) -> str | None:
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None


class _ParseFile(beam.DoFn):
    """Streams one annotation file through vistflow.data.readers into IngestItems.

    Records the reader cannot turn into a dataclass arrive through its `on_malformed` callback
    and leave as `malformed_record` rejects on a tagged output (or as faults of their story),
    never dropped.
    """

    def __init__(self, image_root: str = ""):
        self._image_root = image_root
        self._read = Metrics.counter(NAMESPACE, "records_read")
        self._malformed = Metrics.counter(NAMESPACE, "records_malformed")

    def process(self, spec: InputFile) -> Iterable:
        from components.vist_example_gen.sis_occurrences import read_sis_occurrences
        from vistflow.data import readers

        pending: list[dict] = []
        # DII: album id -> faults of annotations that belong to that album's sequence.
        album_faults: dict[str, list[tuple[str, str]]] = {}

        def on_malformed(file, json_path, reason, raw_record) -> None:
            album = _usable_id(raw_record, "album_id") if spec.task == items.TASK_DII else None
            if album is not None:
                album_faults.setdefault(album, []).append((json_path, str(reason)))
                return
            pending.append(self._malformed_reject(spec, file, json_path, reason, raw_record))

        if spec.task == items.TASK_SIS:
            # Not readers.read_sis: it merges a reused story_id into the first story.
            records = read_sis_occurrences(spec.path, split=spec.split, on_malformed=on_malformed)
        elif spec.task == items.TASK_DII:
            records = readers.read_dii(spec.path, split=spec.split, on_malformed=on_malformed)
        else:
            records = readers.read_karpathy(spec.path, on_malformed=on_malformed)

        position = 0  # records yielded + records rejected: the array index for Karpathy
        for record in records:
            while pending:
                position += 1
                self._malformed.inc()
                yield pvalue.TaggedOutput(MALFORMED, pending.pop(0))
            order = (spec.index, position)
            position += 1
            self._read.inc()
            if spec.task == items.TASK_SIS:
                story, json_path, faults = record
                yield items.from_sis(
                    story,
                    split=spec.split,
                    source=spec.path,
                    order=order,
                    json_path=json_path,
                    faults=_malformed_faults(faults),
                )
            elif spec.task == items.TASK_DII:
                faults = album_faults.pop(record.album_id, [])
                yield items.from_dii(
                    record,
                    split=spec.split,
                    source=spec.path,
                    order=order,
                    faults=_malformed_faults(faults),
                )
            else:
                yield items.from_karpathy(
                    record, image_root=self._image_root, source=spec.path, order=order
                )
        # DII albums none of whose annotations could be read: one reject per album.
        for album, faults in album_faults.items():
            pending.append(
                reasons.reject_line(
                    kind=reasons.KIND_STORY,
                    item_id=album,
                    split=spec.split,
                    task=spec.task,
                    reason=reasons.MALFORMED_RECORD,
                    detail="; ".join(f"{path}: {why}" for path, why in faults),
                    source=f"{spec.path}: {faults[0][0]}",
                )
            )
        for reject in pending:
            self._malformed.inc()
            yield pvalue.TaggedOutput(MALFORMED, reject)

    @staticmethod
    def _malformed_reject(spec: InputFile, file, json_path, reason, raw) -> dict:
        raw = raw if isinstance(raw, dict) else {}
        if spec.task == items.TASK_SIS:
            rid = raw.get("story_id")
        elif spec.task == items.TASK_DII:
            rid = raw.get("album_id")
        else:
            # The reader's image_id rule: COCO id, else the file name without extension.
            rid = raw.get("cocoid")
            if not isinstance(rid, int) and isinstance(raw.get("filename"), str):
                rid = raw["filename"].rsplit(".", 1)[0]
        split = spec.split or items.karpathy_split(str(raw.get("split", "")))
        if split not in SPLITS:
            split = "unknown"  # a Karpathy record without a valid split still counts somewhere
        return reasons.reject_line(
            kind=reasons.KIND_STORY,
            item_id=str(rid) if rid not in (None, "") else str(json_path),
            split=split,
            task=spec.task,
            reason=reasons.MALFORMED_RECORD,
            detail=str(reason),
            source=f"{file}: {json_path}",
        )


def _malformed_faults(faults: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((reasons.MALFORMED_RECORD, f"{path}: {why}") for path, why in faults)


class ReadVistStories(beam.PTransform):
    """VIST annotation files (SIS and/or DII) -> {items, malformed}."""

    def __init__(self, files: Sequence[InputFile]):
        super().__init__()
        self._files = sorted(files, key=lambda f: f.index)

    def expand(self, pbegin):
        parsed = (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            # Each file is streamed by one worker; without the reshuffle the runner may fuse
            # every file's parsing into a single bundle.
            | "SpreadFiles" >> beam.Reshuffle()
            | "ParseFiles" >> beam.ParDo(_ParseFile()).with_outputs(MALFORMED, main=ITEMS)
        )
        return {ITEMS: parsed[ITEMS], MALFORMED: parsed[MALFORMED]}


class ReadKarpathyImages(beam.PTransform):
    """A Karpathy caption JSON (dataset_coco/flickr8k/flickr30k.json) -> {items, malformed}."""

    def __init__(self, karpathy_json: str, image_root: str):
        super().__init__()
        self._file = InputFile(0, items.TASK_CAPTION, "", karpathy_json)
        self._image_root = image_root

    def expand(self, pbegin):
        parsed = (
            pbegin
            | "ListFiles" >> beam.Create([self._file])
            | "ParseFile"
            >> beam.ParDo(_ParseFile(self._image_root)).with_outputs(MALFORMED, main=ITEMS)
        )
        return {ITEMS: parsed[ITEMS], MALFORMED: parsed[MALFORMED]}
