"""The Beam transforms of ingest: read, check images, filter, write examples / rejects / report.

    ReadVistStories | ReadKarpathyImages  -> items (+ malformed records as story rejects)
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
import heapq
import json
import logging
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from components.vist_example_gen import image_check, items, quality, reasons
from components.vist_example_gen.image_check import ImageCheck, ImageLimits
from components.vist_example_gen.items import IngestItem
from components.vist_example_gen.tfrecord import frame_record
from vistflow import example_format as ef
from vistflow.records import SPLITS

_LOG = logging.getLogger(__name__)
_NAMESPACE = "vist_example_gen"

ITEMS = "items"
MALFORMED = "malformed"
CHECKS = "checks"
VERDICTS = "verdicts"
ACCEPTED = "accepted"
REJECTED = "rejected"


@dataclass(frozen=True)
class InputFile:
    """One annotation file to read; `index` orders files for "first occurrence wins"."""

    index: int
    task: str  # sis / dii / caption
    split: str  # "" when records carry their own split (Karpathy)
    path: str


def _reject(
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


# --- reading ----------------------------------------------------------------------------------


class _ParseFile(beam.DoFn):
    """Streams one annotation file through vistflow.data.readers into IngestItems.

    Records the reader cannot turn into a dataclass arrive through its `on_malformed` callback
    and leave as `malformed_record` rejects on a tagged output, never dropped.
    """

    def __init__(self, image_root: str = ""):
        self._image_root = image_root
        self._read = Metrics.counter(_NAMESPACE, "records_read")
        self._malformed = Metrics.counter(_NAMESPACE, "records_malformed")

    def process(self, spec: InputFile) -> Iterable:
        from components.vist_example_gen.sis_occurrences import read_sis_occurrences
        from vistflow.data import readers

        pending: list[dict] = []

        def on_malformed(file, json_path, reason, raw_record) -> None:
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
                story, json_path = record
                yield items.from_sis(
                    story, split=spec.split, source=spec.path, order=order, json_path=json_path
                )
            elif spec.task == items.TASK_DII:
                yield items.from_dii(record, split=spec.split, source=spec.path, order=order)
            else:
                yield items.from_karpathy(
                    record, image_root=self._image_root, source=spec.path, order=order
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
        return _reject(
            kind=reasons.KIND_STORY,
            item_id=str(rid) if rid not in (None, "") else str(json_path),
            split=split,
            task=spec.task,
            reason=reasons.MALFORMED_RECORD,
            detail=str(reason),
            source=f"{file}: {json_path}",
        )


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


# --- image checks -----------------------------------------------------------------------------


class _CheckImageFn(beam.DoFn):
    """Checks one unique image and fans its verdict out to every story that uses it."""

    def __init__(self, data_root: str, limits: ImageLimits):
        self._data_root = data_root
        self._limits = limits
        self._checked = Metrics.counter(_NAMESPACE, "images_checked")
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
        )
        self._checked.inc()
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
    other reasons, so rejects.jsonl lists every bad file a user needs to fix.
    """

    def __init__(self, data_root: str, limits: ImageLimits):
        super().__init__()
        self._data_root = data_root
        self._limits = limits

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
    faults = []
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
        seen: list[str] = []
        for reason, _ in all_faults:
            if reason not in seen:
                seen.append(reason)
        yield pvalue.TaggedOutput(
            REJECTED,
            _reject(
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
    split gets all `num_shards` files (possibly empty), so readers never see a missing split.
    """

    def __init__(self, examples_dir: str, num_shards: int, splits: Sequence[str] = SPLITS):
        super().__init__()
        self._dir = examples_dir
        self._num_shards = num_shards
        self._splits = tuple(splits)

    def expand(self, accepted):
        n = self._num_shards
        records = accepted | "AssignShards" >> beam.Map(
            lambda pair: (
                (pair[0].split, shard_of(pair[0], n)),
                (pair[0].task, pair[0].id, pair[0].to_example(pair[1])),
            )
        )
        every_shard = accepted.pipeline | "EveryShard" >> beam.Create(
            [((split, i), None) for split in self._splits for i in range(n)]
        )
        return (
            (records, every_shard)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteShard(self._dir, n))
        )


def image_reject(check: ImageCheck, used_by: Sequence[tuple[str, str]]) -> dict:
    """The rejects.jsonl line for one bad image file (`id` = photo id)."""
    return _reject(
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


class SmallestK(beam.CombineFn):
    """The k smallest elements under their natural (total) order.

    Beam's `Top` breaks ties by arrival order; with a total order such as (-count, token) the
    result does not depend on how the runner splits bundles.
    """

    def __init__(self, k: int):
        super().__init__()
        self._k = k

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, element) -> list:
        acc.append(element)
        if len(acc) > 4 * self._k:
            acc = heapq.nsmallest(self._k, acc)
        return acc

    def merge_accumulators(self, accs) -> list:
        return heapq.nsmallest(self._k, [e for acc in accs for e in acc])

    def extract_output(self, acc: list) -> list:
        return heapq.nsmallest(self._k, acc)


# --- quality report -----------------------------------------------------------------------------

MAX_THUMBNAILS = 60
MAX_STORY_REJECT_ROWS = 300


def _vocabulary(accepted) -> tuple:
    """accepted -> (vocabulary counters, {split: top words as [(-count, token)]})."""
    per_token = (
        accepted
        | "Tokens" >> beam.FlatMap(lambda pair: quality.token_events(pair[0]))
        | "CountTokens" >> beam.CombinePerKey(sum)
        | "ByToken" >> beam.MapTuple(lambda split_token, n: (split_token[1], (split_token[0], n)))
        | "GroupByToken" >> beam.GroupByKey()
        | "TokenCounts" >> beam.MapTuple(lambda token, pairs: (token, dict(pairs)))
    )
    counters = per_token | "VocabCounters" >> beam.FlatMapTuple(quality.vocabulary_events)
    top = (
        per_token
        | "TopCandidates"
        >> beam.FlatMapTuple(
            lambda token, by_split: [
                *((split, (-n, token)) for split, n in by_split.items()),
                ("all", (-sum(by_split.values()), token)),
            ]
        )
        | "TopWords" >> beam.CombinePerKey(SmallestK(quality.TOP_WORDS))
    )
    return counters, top


def _image_sample(pair) -> tuple:
    check, used_by = pair
    return (
        _SPLIT_ORDER.get(check.split, len(_SPLIT_ORDER)),  # train, val, test, then the rest
        check.split,
        check.photo_id,
        check.uri,
        check.reason,
        check.detail,
        check.thumbnail,
        f"{check.width}x{check.height}" if check.width else "",
        check.mode,
        ", ".join(f"{t}:{i}" for t, i in used_by[:5]),
    )


class BuildQualityReport(beam.PTransform):
    """Counts, image and text statistics -> report.json + report.html (self-contained).

    Checks the invariant input = accepted + rejected per split (and per task) and that every
    accepted item was written; a violation fails the pipeline so no outputs get published.
    """

    def __init__(self, report_dir: str, config: dict):
        super().__init__()
        self._dir = report_dir
        self._config = config

    def expand(self, inputs):
        events = [
            inputs[ITEMS]
            | "InputEvents" >> beam.FlatMap(lambda it: quality.input_events(it.split, it.task)),
            inputs[MALFORMED]
            | "MalformedInputEvents"
            >> beam.FlatMap(lambda r: quality.input_events(r["split"], r["task"])),
            inputs[REJECTED] | "RejectEvents" >> beam.FlatMap(quality.story_reject_events),
            inputs[ACCEPTED]
            | "AcceptedEvents" >> beam.FlatMap(lambda pair: quality.accepted_events(pair[0])),
            inputs[CHECKS]
            | "ImageEvents" >> beam.FlatMap(lambda pair: quality.image_events(pair[0])),
        ]
        vocab_counters, top_words = _vocabulary(inputs[ACCEPTED])
        counters = (
            (*events, vocab_counters)
            | "AllCounters" >> beam.Flatten()
            | "SumCounters" >> beam.CombinePerKey(sum)
        )
        image_samples = (
            inputs[CHECKS]
            | "RejectedImages" >> beam.Filter(lambda pair: not pair[0].ok)
            | "ImageSamples" >> beam.Map(_image_sample)
            | "FirstImageSamples" >> beam.CombineGlobally(SmallestK(MAX_THUMBNAILS))
        )
        return (
            inputs[ACCEPTED].pipeline
            | "Once" >> beam.Create([None])
            | "WriteReport"
            >> beam.Map(
                _write_report,
                report_dir=self._dir,
                config=self._config,
                counters=beam.pvalue.AsList(counters),
                top_words=beam.pvalue.AsDict(top_words),
                shards=beam.pvalue.AsList(inputs["shards"]),
                rejects=beam.pvalue.AsSingleton(inputs["rejects"]),
                image_samples=beam.pvalue.AsSingleton(image_samples),
            )
        )


def _write_report(
    _, *, report_dir, config, counters, top_words, shards, rejects, image_samples
) -> dict:
    from components.vist_example_gen import report_html

    n_image_rejects = sum(1 for r in rejects if r["kind"] == reasons.KIND_IMAGE)
    report = quality.assemble_report(
        dict(counters),
        top_words=top_words,
        shards=shards,
        config=config,
        n_image_rejects=n_image_rejects,
    )
    story_rejects = [r for r in rejects if r["kind"] == reasons.KIND_STORY]
    report["rejects"] = {
        "stories": len(story_rejects),
        "images": n_image_rejects,
        "file": "rejects.jsonl",
    }
    write_bytes(
        FileSystems.join(report_dir, "report.json"),
        (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    )
    html = report_html.render(
        report,
        image_samples=image_samples,
        story_rejects=story_rejects[:MAX_STORY_REJECT_ROWS],
    )
    write_bytes(FileSystems.join(report_dir, "report.html"), html.encode("utf-8"))
    _LOG.info("quality report written to %s", report_dir)
    return report
