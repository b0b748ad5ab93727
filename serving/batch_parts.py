"""Batch-caption outputs: part files (the unit of kill-safe resume), the resume skip, the merge.

Results are written as part files under `OUT/_parts/{captions,rejects}/` named by a hash of the
paths they hold, each written to a temporary name and renamed, so a part is either complete or
absent. A rerun reads the paths in the finished caption parts and skips them; the merge writes
every part into `OUT/captions.jsonl` / `OUT/rejects.jsonl` (sorted, one line per path) and
`OUT/summary.json`, again through temp + rename.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

logger = logging.getLogger(__name__)

NAMESPACE = "batch_caption"
PARTS_DIR = "_parts"
CAPTION_PARTS = "captions"
REJECT_PARTS = "rejects"
CAPTIONS_FILE = "captions.jsonl"
REJECTS_FILE = "rejects.jsonl"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "model.json"  # which model wrote the outputs (serving.batch_manifest)
TMP_PREFIX = ".tmp-"


def _path_of(element: FileMetadata | str) -> str:
    return element.path if isinstance(element, FileMetadata) else str(element)


def _dumps(row: dict) -> str:
    # Key order as built (id, path, caption, score / id, path, reason, detail).
    return json.dumps(row, ensure_ascii=False)


def part_name(paths: Iterable[str]) -> str:
    """A part's file name: a stable hash of the (sorted) image paths it holds."""
    digest = hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()[:24]
    return f"part-{digest}.jsonl"


def write_atomically(path: str, text: str) -> None:
    """Write `path` through a temporary sibling and a rename (readers never see it partial)."""
    directory = os.path.dirname(path)
    tmp = FileSystems.join(directory, f"{TMP_PREFIX}{uuid.uuid4().hex}")
    with FileSystems.create(tmp) as f:
        f.write(text.encode("utf-8"))
    if FileSystems.exists(path):
        # Same name = same paths (a retried bundle); local rename would overwrite, GCS not.
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


class WritePartsFn(beam.DoFn):
    """Rows -> part files of at most `rows_per_part` rows; outputs the part paths."""

    def __init__(self, parts_dir: str, rows_per_part: int):
        self._dir = parts_dir
        self._n = rows_per_part

    def setup(self):
        self._parts = Metrics.counter(NAMESPACE, "parts_written")

    def start_bundle(self):
        self._rows: list[dict] = []

    def process(self, row: dict) -> Iterator[str]:
        self._rows.append(row)
        if len(self._rows) >= self._n:
            yield self._flush()

    def finish_bundle(self):
        if self._rows:
            yield GlobalWindows.windowed_value(self._flush())

    def _flush(self) -> str:
        rows = sorted(self._rows, key=lambda r: r["path"])
        self._rows = []
        path = FileSystems.join(self._dir, part_name(r["path"] for r in rows))
        write_atomically(path, "".join(_dumps(r) + "\n" for r in rows))
        self._parts.inc()
        return path


def read_json(path: str) -> dict | None:
    """The JSON object in `path`, or None when there is no such file."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return json.loads(f.read().decode("utf-8"))


def part_files(parts_dir: str) -> list[str]:
    pattern = FileSystems.join(parts_dir, "part-*.jsonl")
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def _read_rows(part: str) -> Iterator[dict]:
    with FileSystems.open(part, compression_type="uncompressed") as f:
        for n, line in enumerate(f.read().decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                # Parts are renamed into place whole, so this is damage from outside the job.
                logger.warning("%s:%d: not JSON; ignored", part, n)
                continue
            if isinstance(row, dict) and isinstance(row.get("path"), str):
                yield row


def done_paths(readable: fileio.ReadableFile) -> Iterator[str]:
    """The image paths in one finished caption part."""
    for row in _read_rows(readable.metadata.path):
        yield row["path"]


class SkipDoneFn(beam.DoFn):
    """Drops files already captioned by an earlier (killed or finished) run."""

    def setup(self):
        self._skipped = Metrics.counter(NAMESPACE, "skipped_already_done")

    def process(self, element, done: dict):
        if _path_of(element) in done:
            self._skipped.inc()
            return
        yield element


def merge_parts(output_dir: str) -> dict:
    """Merge every part into captions.jsonl / rejects.jsonl (sorted, one line per path).

    Returns the summary also written to summary.json. Deterministic: the same parts give
    byte-identical outputs whatever the runner, bundling or number of reruns.
    """
    caption_dir = FileSystems.join(output_dir, PARTS_DIR, CAPTION_PARTS)
    reject_dir = FileSystems.join(output_dir, PARTS_DIR, REJECT_PARTS)
    captions: dict[str, dict] = {}
    for part in part_files(caption_dir):
        for row in _read_rows(part):
            captions.setdefault(row["path"], row)
    rejects: dict[str, dict] = {}
    for part in part_files(reject_dir):
        for row in _read_rows(part):
            # An image fixed since an earlier run was captioned after its reject was written.
            if row["path"] not in captions:
                rejects.setdefault(row["path"], row)
    write_atomically(
        FileSystems.join(output_dir, CAPTIONS_FILE),
        "".join(_dumps(captions[p]) + "\n" for p in sorted(captions)),
    )
    write_atomically(
        FileSystems.join(output_dir, REJECTS_FILE),
        "".join(_dumps(rejects[p]) + "\n" for p in sorted(rejects)),
    )
    by_reason: dict[str, int] = {}
    for row in rejects.values():
        by_reason[row.get("reason", "?")] = by_reason.get(row.get("reason", "?"), 0) + 1
    summary = {
        "inputs": len(captions) + len(rejects),  # every path once: captioned or rejected
        "captions": len(captions),
        "rejects": len(rejects),
        "rejects_by_reason": dict(sorted(by_reason.items())),
        "output": output_dir,
    }
    model = read_json(FileSystems.join(output_dir, MANIFEST_FILE))
    if model is not None:
        summary["model"] = model
    write_atomically(FileSystems.join(output_dir, SUMMARY_FILE), json.dumps(summary, indent=2))
    # Temporaries left by killed runs: this step runs after every writer of this run finished.
    stale = [
        m.path
        for d in (caption_dir, reject_dir, output_dir)
        for m in FileSystems.match([FileSystems.join(d, f"{TMP_PREFIX}*")])[0].metadata_list
    ]
    if stale:
        FileSystems.delete(stale)
    return summary
