"""FeatureExtractor: a TFX component adding CNN features (and optionally resized JPEGs) to Examples."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from . import executor
from .executor import (
    BACKBONE_KEY,
    BACKBONE_MODEL_KEY,
    BATCH_SIZE_KEY,
    DTYPE_KEY,
    EXAMPLES_KEY,
    INPUT_EXAMPLES_KEY,
    NUM_SHARDS_KEY,
    SCHEMA_KEY,
    SEED_KEY,
    STORE_IMAGES_KEY,
    WEIGHTS_KEY,
)


class FeatureExtractorSpec(ComponentSpec):
    """Input Examples (SequenceExamples with `image_uri`) → Examples with features (same splits)
    and their Schema (for ExampleValidator / Trainer: the schema follows the backbone)."""

    PARAMETERS = {
        BACKBONE_KEY: ExecutionParameter(type=str),
        WEIGHTS_KEY: ExecutionParameter(type=str, optional=True),
        SEED_KEY: ExecutionParameter(type=int, optional=True),
        DTYPE_KEY: ExecutionParameter(type=str, optional=True),
        STORE_IMAGES_KEY: ExecutionParameter(type=int, optional=True),
        BATCH_SIZE_KEY: ExecutionParameter(type=int, optional=True),
        NUM_SHARDS_KEY: ExecutionParameter(type=int, optional=True),
    }
    # Names must be unique across inputs and outputs: the output keeps the name every consumer of
    # Examples expects (`outputs["examples"]`), the input channel is `input_examples`.
    INPUTS = {
        INPUT_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        # A pretrained backbone (ConceptPretrainer's Model: `<uri>/backbone/`); replaces `weights`.
        BACKBONE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
    }


class FeatureExtractor(base_beam_component.BaseBeamComponent):
    """Runs `backbone` once per unique image of `examples`; output `examples` (same splits).

    Output `schema`: schemas/features_schema.pbtxt with the dims, ranges and domains of
    `backbone` and `dtype` (`schema.features_schema`), so validation follows the backbone used.

    Beam options come from the pipeline's `beam_pipeline_args` (or `.with_beam_pipeline_args`),
    so the same component runs on DirectRunner, Dataflow, Flink or Spark.
    """

    SPEC_CLASS = FeatureExtractorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples,
        backbone: str,
        weights: str = "random",
        seed: int = 0,
        dtype: str = "float32",
        store_images: bool = False,
        batch_size: int = 16,
        num_shards: int = 0,
        backbone_model=None,
    ):
        """Args:
        examples: a Channel of Examples (payload FORMAT_TF_SEQUENCE_EXAMPLE).
        backbone: one of backbones.BACKBONES.
        weights: "random" (seeded, demos/tests only), "imagenet" (needs network) or a weights path.
        seed: seed of random weights.
        dtype: storage dtype, "float32" or "float16".
        store_images: also store each resized photo as JPEG (for joint CNN fine-tuning).
        batch_size: inference batch size.
        num_shards: shards per split (0: one per 256 MB).
        backbone_model: optional Channel of a Model holding `backbone/` (e.g. ConceptPretrainer's
          output): extract with those weights instead of `weights`.
        """
        spec = FeatureExtractorSpec(
            input_examples=examples,
            backbone_model=backbone_model,
            backbone=backbone,
            weights=weights,
            seed=seed,
            dtype=dtype,
            store_images=int(store_images),
            batch_size=batch_size,
            num_shards=num_shards,
            examples=types.Channel(type=standard_artifacts.Examples),
            schema=types.Channel(type=standard_artifacts.Schema),
        )
        super().__init__(spec=spec)
