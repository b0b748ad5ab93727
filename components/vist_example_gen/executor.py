"""VistExampleGen's executor: runs the ingest Beam job into the output artifacts.

The job writes to a staging directory next to the `examples` artifact and its outputs are
committed (`vistflow.outputs`) into the three artifact directories only after it succeeded (same
code as `vistflow ingest`).
"""

from __future__ import annotations

import logging
from typing import Any

from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components.vist_example_gen import pipeline as ingest_pipeline
from components.vist_example_gen.image_check import DEFAULT_MAX_PIXELS, ImageLimits
from components.vist_example_gen.options import DEFAULT_NUM_SHARDS, IngestConfig
from vistflow import outputs

_LOG = logging.getLogger(__name__)

DATA_ROOT_KEY = "data_root"
FORMAT_KEY = "format"
KARPATHY_JSON_KEY = "karpathy_json"
IMAGE_ROOT_KEY = "image_root"
TASKS_KEY = "tasks"
MAX_IMAGE_PIXELS_KEY = "max_image_pixels"
MAX_IMAGE_BYTES_KEY = "max_image_bytes"
MAX_ASPECT_RATIO_KEY = "max_aspect_ratio"
NUM_SHARDS_KEY = "num_shards"
SPAN_KEY = "span"
EXAMPLES_KEY = "examples"
REJECTS_KEY = "rejects"
REPORT_KEY = "report"


def config_from_exec_properties(exec_properties: dict[str, Any]) -> IngestConfig:
    """IngestConfig from the component's parameters (unset ones take the CLI defaults)."""

    def get(key: str, default):
        value = exec_properties.get(key)
        return default if value in (None, "") else value

    tasks = str(get(TASKS_KEY, "sis"))
    return IngestConfig(
        data_root=str(get(DATA_ROOT_KEY, "")),
        format=str(get(FORMAT_KEY, "vist")),
        karpathy_json=str(get(KARPATHY_JSON_KEY, "")),
        image_root=str(get(IMAGE_ROOT_KEY, "")),
        tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
        limits=ImageLimits(
            max_pixels=int(get(MAX_IMAGE_PIXELS_KEY, DEFAULT_MAX_PIXELS)),
            max_aspect=float(get(MAX_ASPECT_RATIO_KEY, ImageLimits().max_aspect)),
            max_bytes=int(get(MAX_IMAGE_BYTES_KEY, ImageLimits().max_bytes)),
        ),
        num_shards=int(get(NUM_SHARDS_KEY, DEFAULT_NUM_SHARDS)),
    ).resolved()


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes Examples (SequenceExamples, Split-<each split in the input>), Rejects, Report."""

    def Do(
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = config_from_exec_properties(exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        rejects = artifact_utils.get_single_instance(output_dict[REJECTS_KEY])
        report = artifact_utils.get_single_instance(output_dict[REPORT_KEY])

        staging = examples.uri.rstrip("/") + ingest_pipeline.INCOMPLETE_SUFFIX
        if fileio.exists(staging):  # left behind by a killed attempt: start over
            fileio.rmtree(staging)
        fileio.makedirs(staging)
        try:
            summary = ingest_pipeline.write_outputs(config, staging, self._make_beam_pipeline())
            # TFX created the (empty) artifact dirs; each output replaces its one in one commit.
            outputs.commit(f"{staging}/{ingest_pipeline.EXAMPLES_DIR}", examples.uri, replace=True)
            for name, artifact in (
                (ingest_pipeline.REJECTS_FILE, rejects),
                (ingest_pipeline.REPORT_JSON, report),
                (ingest_pipeline.REPORT_HTML, report),
            ):
                fileio.makedirs(artifact.uri)
                outputs.commit(f"{staging}/{name}", f"{artifact.uri}/{name}", replace=True)
        finally:
            if fileio.exists(staging):
                fileio.rmtree(staging)

        # Only the splits the input holds: a root with just val gives an Examples artifact with
        # just Split-val (report.json's `splits_absent` names the others).
        examples.split_names = artifact_utils.encode_split_names(list(summary["splits_present"]))
        examples_utils.set_payload_format(
            examples, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
        )
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        # TFX span semantics (ExampleGen's driver sets the same property): one partition, one span.
        span = int(exec_properties.get(SPAN_KEY) or 0)
        examples.span = span
        report.set_int_custom_property(SPAN_KEY, span)
        totals = summary["totals"]
        # Counts on the artifacts, so a pipeline (or Airflow) can gate on them without files.
        for artifact in (report, rejects):
            artifact.set_int_custom_property("input", totals["input"])
            artifact.set_int_custom_property("accepted", totals["accepted"])
            artifact.set_int_custom_property("rejected", totals["rejected"])
        report.set_int_custom_property("images_rejected", summary["images"]["rejected"])
        _LOG.info(
            "VistExampleGen: %d input, %d accepted, %d rejected",
            totals["input"],
            totals["accepted"],
            totals["rejected"],
        )
