"""The Beam transforms of ingest: read, check images, filter, write examples / rejects / report.

    ReadVistStories | ReadKarpathyImages  -> items (+ malformed records as story rejects;
                                          reading.py)
    CheckImages      items -> one ImageCheck per unique image (+ per-story photo verdicts)
    FilterStories    items + verdicts -> accepted (item, image URIs) | story rejects
    WriteExamples    accepted -> Split-<split>/data_tfrecord-SSSSS-of-NNNNN.gz (sorted, fixed shards)
    WriteRejects     story + image rejects -> rejects.jsonl (sorted)
    BuildQualityReport  everything -> report.json + report.html

Images are checked once per unique (split, photo id, path) after a GroupByKey, and the verdicts
are joined back to stories with CoGroupByKey keyed by story. A side input would broadcast the
whole image table (200k entries for real VIST, more for COCO) to every worker; the join keeps it
distributed and still lets one story list every failing photo.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterable, Sequence

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from components.vist_example_gen import image_check, items, reasons
from components.vist_example_gen.image_check import ImageCheck, ImageLimits
from components.vist_example_gen.items import IngestItem
from components.vist_example_gen.reading import (  # noqa: F401 - part of this module's API
    ITEMS,
    MALFORMED,
    InputFile,
    ReadKarpathyImages,
    ReadVistStories,
)
from components.vist_example_gen.tfrecord import frame_record
from vistflow import example_format as ef
from vistflow.records import SPLITS

_LOG = logging.getLogger(__name__)
_NAMESPACE = "vist_example_gen"

CHECKS = "checks"
VERDICTS = "verdicts"
ACCEPTED = "accepted"
REJECTED = "rejected"


# --- image checks -----------------------------------------------------------------------------


class _CheckImageFn(beam.DoFn):
    """Checks one unique image (never outside `data_root`) and fans its verdict out to its users."""

    def __init__(self, data_root: str, limits: ImageLimits):
        self._data_root, self._limits = data_root, limits
        self._checked = Metrics.counter(_NAMESPACE, "images_checked")
        self._bytes_read = Metrics.counter(_NAMESPACE, "image_bytes_read")
        self._bad = {r: Metrics.counter(_NAMESPACE, f"images_{r}") for r in reasons.IMAGE_REASONS}

    def setup(self) -> None:
        image_check.configure_pil(self._limits)

    def process(self, element) -> Iterable:
        (split, photo_id, uri), users = element
        expected = ""
        if not uri:
            from vistflow.data.layout import find_image

            found = find_image(self._data_root, split, photo_id)
            uri = str(found) if found else ""
            expected = FileSystems.join(self._data_root, "images", split, f"{photo_id}.*")
        result = image_check.check_image_file(
            uri or None,
            split=split,
            photo_id=photo_id,
            limits=self._limits,
            expected_location=expected,
            root=self._data_root,
        )
        self._checked.inc()
        self._bytes_read.inc(result.bytes_read)
        if not result.ok:
            self._bad[result.reason].inc()
        users = sorted(set(users))
        used_by = sorted({(task, item_id) for (task, item_id, *_), _pos in users})
        yield pvalue.TaggedOutput(CHECKS, (result, used_by))
        verdict = (result.photo_id, result.uri, result.reason, result.detail)
        for item_key, pos in users:
            yield item_key, (pos, verdict)


class CheckImages(beam.PTransform):
    """items -> {checks: (ImageCheck, [(task, id) using it]), verdicts: (item key, (pos, verdict))}.

    Every image referenced by any parsed record is checked, including records rejected for
    other reasons, so rejects.jsonl lists every bad file a user needs to fix. `data_root`: the
    VIST root (or Karpathy image root) that every image file must lie in.
    """

    def __init__(self, data_root: str, limits: ImageLimits):
        super().__init__()
        self._data_root, self._limits = data_root, limits

    def expand(self, items_pc):
        checked = (
            items_pc
            | "ImageRefs"
            >> beam.FlatMap(
                lambda it: ((ref.key, (it.key, pos)) for pos, ref in enumerate(it.refs))
            )
            | "GroupByImage" >> beam.GroupByKey()
            | "CheckEachImageOnce"
            >> beam.ParDo(_CheckImageFn(self._data_root, self._limits)).with_outputs(
                CHECKS, main=VERDICTS
            )
        )
        return {CHECKS: checked[CHECKS], VERDICTS: checked[VERDICTS]}


# --- filtering --------------------------------------------------------------------------------


def _record_faults(group) -> Iterable:
    """(id key, [items]) -> (item key, (item, faults)); faults known without the images.

    The first occurrence of an id (by input file order, then position) wins; later ones are
    `duplicate_id`. Sorting makes this independent of the order the runner delivers them in.
    """
    _id_key, group_items = group
    ordered = sorted(group_items, key=lambda it: it.order)
    first = ordered[0]
    for i, item in enumerate(ordered):
        faults: list[tuple[str, str]] = []
        if i:
            faults.append((reasons.DUPLICATE_ID, f"id {item.id} already used by {first.source}"))
        faults.extend(structural_faults(item))
        yield item.key, (item, faults)


def structural_faults(item: IngestItem) -> list[tuple[str, str]]:
    """`incomplete_story` and `empty_text` faults of one item, with details naming the photo."""
    faults = list(item.faults)  # unreadable annotations of this story (reading.py)
    if item.split not in SPLITS:
        faults.append((reasons.MALFORMED_RECORD, f"unknown split {item.split!r}"))
    n = len(item.photo_ids)
    if item.task in (items.TASK_SIS, items.TASK_DII) and n != items.PHOTOS_PER_STORY:
        faults.append((reasons.INCOMPLETE_STORY, f"{n} photos, expected {items.PHOTOS_PER_STORY}"))
    if len(item.texts) != n:
        faults.append((reasons.MALFORMED_RECORD, f"{n} photos but {len(item.texts)} text entries"))
    empty = [
        f"photo {pos} ({photo_id})"
        for pos, (photo_id, texts) in enumerate(zip(item.photo_ids, item.texts, strict=False))
        if not texts or any(not t.strip() for t in texts)
    ]
    if empty:
        faults.append((reasons.EMPTY_TEXT, "empty text for " + ", ".join(empty)))
    return faults


_PRIORITY = {r: i for i, r in enumerate(reasons.ALL_REASONS)}


class _Decide(beam.DoFn):
    """(item key, {item, images}) -> accepted (item, image URIs) | story reject."""

    def __init__(self):
        self._accepted = Metrics.counter(_NAMESPACE, "stories_accepted")
        self._rejected = {
            r: Metrics.counter(_NAMESPACE, f"stories_{r}") for r in reasons.ALL_REASONS
        }

    def process(self, element) -> Iterable:
        key, joined = element
        (item, faults), *extra = list(joined["item"])
        if extra:  # item keys include the file position: two records can't share one
            raise RuntimeError(f"two records with key {key}")
        photo_verdicts = sorted(joined["images"])
        uris = [""] * len(item.photo_ids)
        bad_photos: list[tuple[str, str, str]] = []
        for pos, (photo_id, uri, reason, detail) in photo_verdicts:
            uris[pos] = uri
            if reason:
                bad_photos.append((reason, photo_id, detail))
        # Record-level faults first (they make the image checks moot), by reasons.ALL_REASONS
        # priority; then failing photos in story order. The first one names the reject.
        all_faults = sorted(faults, key=lambda f: _PRIORITY[f[0]]) + [
            (reason, f"photo {photo_id}: {detail}") for reason, photo_id, detail in bad_photos
        ]
        if not all_faults:
            self._accepted.inc()
            yield item, tuple(uris)
            return
        primary_reason = all_faults[0][0]
        self._rejected[primary_reason].inc()
        seen = list(dict.fromkeys(reason for reason, _ in all_faults))  # first occurrences
        yield pvalue.TaggedOutput(
            REJECTED,
            reasons.reject_line(
                kind=reasons.KIND_STORY,
                item_id=item.id,
                split=item.split,
                task=item.task,
                reason=primary_reason,
                detail=(
                    all_faults[0][1]
                    if len(all_faults) == 1
                    else "; ".join(f"{r}: {d}" for r, d in all_faults)
                ),
                source=item.source,
                all_reasons=seen,
                failing_photos=sorted({photo_id for _, photo_id, _ in bad_photos}),
            ),
        )


class FilterStories(beam.PTransform):
    """{items, verdicts} -> {accepted: (IngestItem, image URIs), rejected: story reject dicts}.

    A story is rejected whole when any of its photos is (as reference 004 does; padding with
    black images, as GLACNet/AREL do, teaches the model to narrate black frames).
    """

    def expand(self, inputs):
        marked = (
            inputs[ITEMS]
            | "KeyById" >> beam.Map(lambda it: (it.id_key, it))
            | "GroupById" >> beam.GroupByKey()
            | "MarkRecordFaults" >> beam.FlatMap(_record_faults)
        )
        decided = (
            {"item": marked, "images": inputs[VERDICTS]}
            | "JoinImageVerdicts" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(_Decide()).with_outputs(REJECTED, main=ACCEPTED)
        )
        return {ACCEPTED: decided[ACCEPTED], REJECTED: decided[REJECTED]}


# --- writing ----------------------------------------------------------------------------------


def shard_of(item: IngestItem, num_shards: int) -> int:
    """Stable shard of an item: a function of its id only, so shards don't move between runs."""
    return zlib.crc32(f"{item.task}/{item.id}".encode()) % num_shards


def shard_path(examples_dir: str, split: str, shard: int, num_shards: int) -> str:
    name = ef.SHARD_PATTERN.replace("*", f"{shard:05d}-of-{num_shards:05d}")
    return FileSystems.join(examples_dir, ef.SPLIT_DIR.format(split=split), name)


def write_bytes(path: str, data: bytes) -> None:
    """Writes a file on any Beam filesystem, creating its directory (no compression guessing)."""
    directory = path.rsplit("/", 1)[0]
    if directory and not FileSystems.exists(directory):
        try:
            FileSystems.mkdirs(directory)
        except OSError:  # another worker created it meanwhile
            pass
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


class _WriteShard(beam.DoFn):
    def __init__(self, examples_dir: str, num_shards: int):
        self._dir = examples_dir
        self._num_shards = num_shards
        self._written = Metrics.counter(_NAMESPACE, "examples_written")

    def process(self, element) -> Iterable[tuple[str, int, int]]:
        (split, shard), records = element
        records = sorted(r for r in records if r is not None)
        payload = b"".join(frame_record(example) for _task, _id, example in records)
        # mtime=0: gzip headers otherwise carry the write time and reruns would differ.
        write_bytes(
            shard_path(self._dir, split, shard, self._num_shards),
            gzip.compress(payload, compresslevel=6, mtime=0),
        )
        self._written.inc(len(records))
        yield split, shard, len(records)


class WriteExamples(beam.PTransform):
    """accepted -> gzipped TFRecord shards of SequenceExamples; outputs (split, shard, count).

    Beam's WriteToTFRecord assigns elements to shards at random and in arrival order; here the
    shard is a hash of the id and each shard is sorted, so reruns produce identical bytes. Every
    split of the input gets all `num_shards` files (possibly empty), so readers never see a
    missing split; splits absent from the input get no directory.
    """

    def __init__(self, examples_dir: str, num_shards: int, splits=SPLITS):
        """`splits`: the splits to write (all shards, even empty), a sequence or a PCollection."""
        super().__init__()
        self._dir = examples_dir
        self._num_shards = num_shards
        self._splits = splits if isinstance(splits, pvalue.PCollection) else tuple(splits)

    def expand(self, accepted):
        n = self._num_shards
        records = accepted | "AssignShards" >> beam.Map(
            lambda pair: (
                (pair[0].split, shard_of(pair[0], n)),
                (pair[0].task, pair[0].id, pair[0].to_example(pair[1])),
            )
        )
        splits = self._splits
        if not isinstance(splits, pvalue.PCollection):
            splits = accepted.pipeline | "Splits" >> beam.Create(list(splits))
        every_shard = splits | "EveryShard" >> beam.FlatMap(
            lambda split: [((split, i), None) for i in range(n)]
        )
        return (
            (records, every_shard)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteShard(self._dir, n))
        )


def image_reject(check: ImageCheck, used_by: Sequence[tuple[str, str]]) -> dict:
    """The rejects.jsonl line for one bad image file (`id` = photo id)."""
    return reasons.reject_line(
        kind=reasons.KIND_IMAGE,
        item_id=check.photo_id,
        split=check.split,
        task=",".join(sorted({task for task, _ in used_by})),
        reason=check.reason,
        detail=check.detail,
        source=check.uri or check.expected,
        used_by=[f"{task}:{item_id}" for task, item_id in used_by],
    )


_KIND_ORDER = {reasons.KIND_STORY: 0, reasons.KIND_IMAGE: 1}
_SPLIT_ORDER = {s: i for i, s in enumerate(SPLITS)}


def reject_sort_key(reject: dict) -> tuple:
    """Stories before images, then split, task, id: a stable order for a diffable file."""
    return (
        _KIND_ORDER[reject["kind"]],
        _SPLIT_ORDER.get(reject["split"], len(_SPLIT_ORDER)),
        reject["split"],
        reject["task"],
        reject["id"],
        reject["source"],
        reject["reason"],
    )


def _write_rejects(rejects: list[dict], path: str) -> list[dict]:
    rejects = sorted(rejects, key=reject_sort_key)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects)
    write_bytes(path, lines.encode("utf-8"))
    return rejects


class WriteRejects(beam.PTransform):
    """{stories, checks} -> rejects.jsonl (story rejects, then one line per bad image).

    Outputs the sorted list (one element) for the quality report. Rejects are a small fraction
    of the data, so one sorted file is both cheap and what users want to read.
    """

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, inputs):
        image_rejects = (
            inputs[CHECKS]
            | "BadImages" >> beam.Filter(lambda pair: not pair[0].ok)
            | "ImageRejectLines" >> beam.MapTuple(image_reject)
        )
        return (
            (inputs[REJECTED], image_rejects)
            | "AllRejects" >> beam.Flatten()
            | "CollectRejects" >> beam.combiners.ToList()
            | "WriteJsonl" >> beam.Map(_write_rejects, self._path)
        )
