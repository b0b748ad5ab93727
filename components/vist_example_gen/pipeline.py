"""The ingest Beam job: VIST / Karpathy data -> Examples, rejects.jsonl, report.json/.html.

    python -m components.vist_example_gen.pipeline --data-root DATA --out OUT [beam options]

Outputs appear only when complete: everything is written to `<OUT>.incomplete/` and committed as
`<OUT>` at the end (`vistflow.outputs`), so a killed run leaves no partial output and a rerun starts clean. The CLI
(`vistflow ingest`) and the TFX executor both call `write_outputs`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

from components.vist_example_gen import options as opts
from components.vist_example_gen import quality_transforms as QT
from components.vist_example_gen import transforms as T
from components.vist_example_gen.options import IngestConfig
from vistflow import uri
from vistflow.errors import VistflowError
from vistflow.outputs import COMMIT_MARKER, committed_output
from vistflow.records import SPLITS

_LOG = logging.getLogger(__name__)

EXAMPLES_DIR = "examples"
REJECTS_FILE = "rejects.jsonl"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
OUTPUT_NAMES = (EXAMPLES_DIR, REJECTS_FILE, REPORT_JSON, REPORT_HTML)
INCOMPLETE_SUFFIX = ".incomplete"


def input_files(config: IngestConfig) -> list[T.InputFile]:
    """The annotation files to read, in the order that decides "first occurrence wins".

    A VIST root may hold only some splits (e.g. just `sis/val.story-in-sequence.json`): the
    splits whose files exist are read, the others are reported absent (`split_inventory`).

    Raises:
      VistflowError: the data root is missing, no annotation file of the requested tasks exists,
        or one exists but is not a readable file (named).
    """
    if config.format == "karpathy":
        _require_readable_file(config.karpathy_json)
        _require_dir(config.image_root, "image root")
        return [T.InputFile(0, "caption", "", config.karpathy_json)]
    _require_dir(config.data_root, "data root")
    files = []
    for task, split, path in _vist_paths(config):
        if not _exists(path):
            continue
        _require_readable_file(path)
        files.append(T.InputFile(len(files), task, split, path))
    if not files:
        expected = " or ".join(
            f"{task}/<{'|'.join(SPLITS)}>.{_TIER_FILE[task]}.json" for task in config.tasks
        )
        raise VistflowError(
            f"{config.data_root}: no annotation file of any split (expected {expected})"
        )
    return files


_TIER_FILE = {"sis": "story-in-sequence", "dii": "description-in-isolation"}


def _vist_paths(config: IngestConfig) -> list[tuple[str, str, str]]:
    from vistflow.data import layout

    root = config.data_root
    out = []
    for task in config.tasks:
        path_of = layout.sis_path if task == "sis" else layout.dii_path
        out.extend((task, split, str(path_of(root, split))) for split in SPLITS)
    return out


def _exists(path: str) -> bool:
    # lexists: a dangling symlink is a file the user meant to provide (reported as unreadable).
    return FileSystems.exists(path) if "://" in path else os.path.lexists(path)


def split_inventory(config: IngestConfig, files: list[T.InputFile]) -> dict:
    """Which splits the input holds: `{splits_present, splits_absent, files_absent}`.

    For VIST a split is present when an annotation file of any requested task exists for it;
    `files_absent` lists the expected files that do not exist. A Karpathy file holds its splits
    inside, so its inventory is known only after reading (None here; see
    quality.assemble_report).
    """
    if config.format == "karpathy":
        return {"splits_present": None, "splits_absent": None, "files_absent": []}
    read = {f.path for f in files}
    present = [s for s in SPLITS if any(f.split == s for f in files)]
    return {
        "splits_present": present,
        "splits_absent": [s for s in SPLITS if s not in present],
        "files_absent": [path for _, _, path in _vist_paths(config) if path not in read],
    }


def _require_dir(path: str, what: str) -> None:
    if "://" in path:
        return  # remote roots are checked by the readers when they open files
    if not os.path.isdir(path):
        raise VistflowError(f"{path}: {what} does not exist or is not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise VistflowError(f"{path}: {what} is not readable")


def _require_readable_file(path: str) -> None:
    if "://" in path:
        if not FileSystems.exists(path):
            raise VistflowError(f"{path}: file does not exist")
        return
    if not os.path.isfile(path):
        raise VistflowError(f"{path}: file does not exist")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise VistflowError(f"{path}: cannot read: {e.strerror or e}") from None


def build_pipeline(p: beam.Pipeline, config: IngestConfig, staging_dir: str) -> dict:
    """Adds the ingest transforms to `p`, writing everything under `staging_dir`."""
    files = input_files(config)
    inventory = split_inventory(config, files)
    if config.format == "karpathy":
        read = p | "ReadKarpathyImages" >> T.ReadKarpathyImages(
            config.karpathy_json, config.image_root
        )
        # Splits with at least one record (a Karpathy file need not hold all three).
        splits = (
            (
                read[T.ITEMS] | "ItemSplits" >> beam.Map(lambda it: it.split),
                read[T.MALFORMED] | "MalformedSplits" >> beam.Map(lambda r: r["split"]),
            )
            | "AllSplits" >> beam.Flatten()
            | "KnownSplits" >> beam.Filter(lambda s: s in SPLITS)
            | "DistinctSplits" >> beam.Distinct()
        )
    else:
        read = p | "ReadVistStories" >> T.ReadVistStories(files)
        splits = tuple(inventory["splits_present"])
    # Every image file must lie in the root its paths are relative to (symlinks resolved).
    image_root = config.image_root if config.format == "karpathy" else config.data_root
    checks = read[T.ITEMS] | "CheckImages" >> T.CheckImages(image_root, config.limits)
    filtered = {
        T.ITEMS: read[T.ITEMS],
        T.VERDICTS: checks[T.VERDICTS],
    } | "FilterStories" >> T.FilterStories()
    story_rejects = (read[T.MALFORMED], filtered[T.REJECTED]) | "StoryRejects" >> beam.Flatten()
    shards = filtered[T.ACCEPTED] | "WriteExamples" >> T.WriteExamples(
        FileSystems.join(staging_dir, EXAMPLES_DIR), config.num_shards, splits
    )
    rejects = {
        T.REJECTED: story_rejects,
        T.CHECKS: checks[T.CHECKS],
    } | "WriteRejects" >> T.WriteRejects(FileSystems.join(staging_dir, REJECTS_FILE))
    report = {
        T.ITEMS: read[T.ITEMS],
        T.MALFORMED: read[T.MALFORMED],
        T.ACCEPTED: filtered[T.ACCEPTED],
        T.REJECTED: story_rejects,
        T.CHECKS: checks[T.CHECKS],
        "shards": shards,
        "rejects": rejects,
    } | "BuildQualityReport" >> QT.BuildQualityReport(
        staging_dir, config.to_report(), inventory=inventory
    )
    return {"accepted": filtered[T.ACCEPTED], "rejects": rejects, "report": report}


def _user_error(error: BaseException) -> VistflowError | None:
    """The VistflowError behind a pipeline failure, if a user's input caused it.

    Local runners chain the original exception; remote runners only keep its text.
    """
    seen = error
    while seen is not None:
        if isinstance(seen, VistflowError):
            return seen
        seen = seen.__cause__ or seen.__context__
    text = str(error)
    for marker in ("InputFormatError: ", "VistflowError: "):
        if marker in text:
            return VistflowError(text.split(marker, 1)[1].split(" [while running", 1)[0])
    return None


def write_outputs(config: IngestConfig, staging_dir: str, pipeline: beam.Pipeline) -> dict:
    """Runs ingest into `staging_dir` with `pipeline` (not yet run); returns report.json's dict.

    Raises:
      VistflowError: bad input (missing/unreadable root or file, broken JSON), named.
    """
    build_pipeline(pipeline, config, staging_dir)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as e:
        user = _user_error(e)
        if user is not None:
            raise user from None
        raise
    with FileSystems.open(FileSystems.join(staging_dir, REPORT_JSON)) as f:
        return json.loads(f.read().decode("utf-8"))


def _is_ingest_output(path: str) -> bool:
    names = set(uri.listdir(path))
    # On a store, a publish killed midway leaves some of our names without the marker.
    ours = REPORT_JSON in names or uri.is_uri(path)
    return not names or (ours and names <= {*OUTPUT_NAMES, COMMIT_MARKER})


def _check_replaceable(out: str) -> None:
    there = uri.exists(out) if uri.is_uri(out) else os.path.lexists(out)
    if there and (not uri.isdir(out) or not _is_ingest_output(out)):
        raise VistflowError(
            f"{out}: exists and is not an earlier ingest output; refusing to replace it"
        )


def ingest(
    config: IngestConfig,
    out_dir: str,
    beam_args: Sequence[str] = (),
    *,
    save_main_session: bool = False,
    test_pipeline: beam.Pipeline | None = None,
) -> dict:
    """Writes `out_dir/{examples/Split-*/, rejects.jsonl, report.json, report.html}` atomically.

    Args:
      config: what to read (see IngestConfig); resolved here.
      out_dir: local directory or URI (gs://, s3://: committed with a `_COMMITTED` marker);
        replaced if it holds an earlier ingest output.
      beam_args: Beam pipeline options (--runner, --direct_num_workers, ...).
      test_pipeline: a TestPipeline to run on instead of one built from `beam_args`.
    Returns:
      The report.json dict.
    """
    config = config.resolved()
    out = out_dir.rstrip("/") if uri.is_uri(out_dir) else os.path.abspath(out_dir)
    _check_replaceable(out)
    if test_pipeline is None:
        options = PipelineOptions(list(beam_args))
        options.view_as(SetupOptions).save_main_session = save_main_session
        pipeline = beam.Pipeline(options=options)
    else:
        pipeline = test_pipeline
    # A fixed staging name: a killed earlier run's leftovers are removed and we start over.
    staging_dir = out + INCOMPLETE_SUFFIX
    with committed_output(out, replace=True, staging=staging_dir, make_dir=True) as staging:
        report = write_outputs(config, staging, pipeline)
        _check_replaceable(out)  # again: something else may have appeared there meanwhile
    _LOG.info("ingest output complete: %s", out)
    return report


def run(argv: Sequence[str] | None = None, save_main_session: bool = True, test_pipeline=None):
    """Command-line entry point: known args are ours, the rest are Beam pipeline options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    opts.add_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory")
    known, beam_args = parser.parse_known_args(argv)
    return ingest(
        opts.config_from_args(known),
        known.out,
        beam_args,
        save_main_session=save_main_session,
        test_pipeline=test_pipeline,
    )


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    run()
