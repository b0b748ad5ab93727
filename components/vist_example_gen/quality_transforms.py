"""The data-quality report of an ingest as Beam transforms: vocabulary, image samples, counts.

`BuildQualityReport` gathers what `quality.py` computes per element into report.json and
report.html (`report_html.py`); split from `transforms.py`, which checks, filters and writes.
"""

from __future__ import annotations

import heapq
import json
import logging

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from components.vist_example_gen import quality, reasons
from components.vist_example_gen.reading import ITEMS, MALFORMED
from components.vist_example_gen.transforms import (
    _SPLIT_ORDER,
    ACCEPTED,
    CHECKS,
    REJECTED,
    write_bytes,
)

_LOG = logging.getLogger(__name__)


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

    def __init__(self, report_dir: str, config: dict, *, inventory: dict | None = None):
        """`inventory`: pipeline.split_inventory (splits present/absent in the input)."""
        super().__init__()
        self._dir = report_dir
        self._config = config
        self._inventory = inventory or {}

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
                inventory=self._inventory,
                counters=beam.pvalue.AsList(counters),
                top_words=beam.pvalue.AsDict(top_words),
                shards=beam.pvalue.AsList(inputs["shards"]),
                rejects=beam.pvalue.AsSingleton(inputs["rejects"]),
                image_samples=beam.pvalue.AsSingleton(image_samples),
            )
        )


def _write_report(
    _, *, report_dir, config, inventory, counters, top_words, shards, rejects, image_samples
) -> dict:
    from components.vist_example_gen import report_html

    n_image_rejects = sum(1 for r in rejects if r["kind"] == reasons.KIND_IMAGE)
    report = quality.assemble_report(
        dict(counters),
        top_words=top_words,
        shards=shards,
        config=config,
        n_image_rejects=n_image_rejects,
        inventory=inventory,
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
