"""The TFX component: `VistExampleGen` with outputs `examples`, `rejects` and `report`.

    gen = VistExampleGen(data_root="/data/vist")            # SIS stories
    gen = VistExampleGen(format="karpathy", karpathy_json=".../dataset_flickr8k.json",
                         image_root=".../Flicker8k_Dataset")
    gen.outputs["examples"]  # standard Examples, splits train/val/test, SequenceExample payload

Beam options come from the pipeline's `beam_pipeline_args` or `.with_beam_pipeline_args(...)`.
"""

from __future__ import annotations

# Not `from tfx import v1`: tfx.v1 does not export the class-component machinery (ComponentSpec,
# BeamExecutorSpec) anyway, and importing it loads every standard component (~6 s of CPU per
# process) that this module does not use. The names below are what tfx.v1 re-exports.
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import component_spec, standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.channel import Channel

from components.vist_example_gen import executor
from components.vist_example_gen.image_check import DEFAULT_MAX_PIXELS, ImageLimits
from components.vist_example_gen.options import DEFAULT_NUM_SHARDS


class Rejects(Artifact):
    """rejects.jsonl: one line per rejected story (kind=story) or bad image file (kind=image)."""

    TYPE_NAME = "vistflow.Rejects"


class DataQualityReport(Artifact):
    """report.json + report.html of an ingest run (counts per split/reason, image/text stats)."""

    TYPE_NAME = "vistflow.DataQualityReport"


class VistExampleGenSpec(component_spec.ComponentSpec):
    """Parameters mirror `vistflow ingest`'s flags (see options.IngestConfig)."""

    PARAMETERS = {
        executor.DATA_ROOT_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        executor.FORMAT_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        executor.KARPATHY_JSON_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        executor.IMAGE_ROOT_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        executor.TASKS_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        executor.MAX_IMAGE_PIXELS_KEY: component_spec.ExecutionParameter(type=int, optional=True),
        executor.MAX_ASPECT_RATIO_KEY: component_spec.ExecutionParameter(type=float, optional=True),
        executor.NUM_SHARDS_KEY: component_spec.ExecutionParameter(type=int, optional=True),
        # The partition's span (TFX span semantics: one landed partition = one span), set as the
        # standard `span` property of the output Examples; 0 = not a spanned partition.
        executor.SPAN_KEY: component_spec.ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        executor.EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
        executor.REJECTS_KEY: component_spec.ChannelParameter(type=Rejects),
        executor.REPORT_KEY: component_spec.ChannelParameter(type=DataQualityReport),
    }


class VistExampleGen(base_beam_component.BaseBeamComponent):
    """Ingests VIST (SIS/DII) or Karpathy data; see components/vist_example_gen/pipeline.py."""

    SPEC_CLASS = VistExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        *,
        data_root: str = "",
        format: str = "vist",  # noqa: A002 - the flag's name
        karpathy_json: str = "",
        image_root: str = "",
        tasks: str = "sis",
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        max_aspect_ratio: float = ImageLimits().max_aspect,
        num_shards: int = DEFAULT_NUM_SHARDS,
        span: int = 0,
    ):
        """Args are those of `vistflow ingest` (tasks comma-separated: "sis", "sis,dii"), and
        `span`: the partition's span number, recorded on the Examples (and the report)."""
        spec = VistExampleGenSpec(
            data_root=data_root,
            format=format,
            karpathy_json=karpathy_json,
            image_root=image_root,
            tasks=tasks,
            max_image_pixels=max_image_pixels,
            max_aspect_ratio=max_aspect_ratio,
            num_shards=num_shards,
            span=span,
            examples=Channel(type=standard_artifacts.Examples),
            rejects=Channel(type=Rejects),
            report=Channel(type=DataQualityReport),
        )
        super().__init__(spec=spec)
