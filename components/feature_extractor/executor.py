"""TFX executor of FeatureExtractor: runs the Beam feature-extraction job on an Examples artifact."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact, artifact_utils
from tfx.utils import io_utils

from vistflow.backbones import get_spec
from vistflow.errors import VistflowError
from vistflow.feature_schema import features_schema

from .pipeline import ExtractionConfig, extract_features

logger = logging.getLogger(__name__)

# TFX wants argument names unique across inputs and outputs. Downstream components read the
# output as `outputs["examples"]` (like ExampleGen's), so the input channel is `input_examples`;
# the component's constructor still takes `examples=`.
INPUT_EXAMPLES_KEY = "input_examples"
BACKBONE_MODEL_KEY = "backbone_model"  # optional Model with `backbone/`: overrides `weights`
PRETRAINED_BACKBONE_DIR = "backbone"  # ConceptPretrainer's layout inside its Model artifact
EXAMPLES_KEY = "examples"
SCHEMA_KEY = "schema"  # the TFMD schema of the output, derived for the backbone and dtype
SCHEMA_FILE = "schema.pbtxt"  # the name SchemaGen/ImportSchemaGen give it
BACKBONE_KEY = "backbone"
WEIGHTS_KEY = "weights"
SEED_KEY = "seed"
DTYPE_KEY = "dtype"
STORE_IMAGES_KEY = "store_images"
BATCH_SIZE_KEY = "batch_size"
NUM_SHARDS_KEY = "num_shards"

_SEQUENCE = example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE


def config_from_exec_properties(exec_properties: dict[str, Any]) -> ExtractionConfig:
    """The ExtractionConfig an execution's properties describe (unset ones take the defaults)."""
    defaults = ExtractionConfig(backbone=exec_properties[BACKBONE_KEY])

    def get(key: str, default):
        value = exec_properties.get(key)
        return default if value is None else value

    return ExtractionConfig(
        backbone=exec_properties[BACKBONE_KEY],
        weights=str(get(WEIGHTS_KEY, defaults.weights)),
        seed=int(get(SEED_KEY, defaults.seed)),
        dtype=str(get(DTYPE_KEY, defaults.dtype)),
        store_images=bool(get(STORE_IMAGES_KEY, int(defaults.store_images))),
        batch_size=int(get(BATCH_SIZE_KEY, defaults.batch_size)),
        num_shards=int(get(NUM_SHARDS_KEY, defaults.num_shards)),
    ).validate()


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes the input Examples, with CNN features added, as an Examples artifact (same splits),
    and their schema (the checked-in one with the backbone's dims and dtype) as a Schema artifact.
    """

    def Do(
        self,
        input_dict: dict[str, list[artifact.Artifact]],
        output_dict: dict[str, list[artifact.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(input_dict[INPUT_EXAMPLES_KEY])
        output = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        payload = examples_utils.get_payload_format(examples)
        if payload != _SEQUENCE:
            raise VistflowError(
                f"{examples.uri}: payload format "
                f"{example_gen_pb2.PayloadFormat.Name(payload)}, expected FORMAT_TF_SEQUENCE_EXAMPLE "
                "(set payload_format on the ExampleGen that produced it)"
            )
        splits = artifact_utils.decode_split_names(examples.split_names)
        patterns = {
            split: io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))
            for split in splits
        }
        config = config_from_exec_properties(exec_properties)
        pretrained = input_dict.get(BACKBONE_MODEL_KEY) or []
        if pretrained:
            model = artifact_utils.get_single_instance(pretrained)
            config = dataclasses.replace(
                config, weights=os.path.join(model.uri, PRETRAINED_BACKBONE_DIR)
            ).validate()
            logger.info("FeatureExtractor: pretrained backbone from %s", config.weights)
        meta = extract_features(patterns, output.uri, config, pipeline=self._make_beam_pipeline())

        output.split_names = artifact_utils.encode_split_names(splits)
        # The same partition, with features: the same span (training windows resolve on it).
        output.span = int(examples.span or 0)
        examples_utils.set_payload_format(output, _SEQUENCE)
        # Searchable in ML Metadata: which network made these features, and whether it was real.
        output.set_string_custom_property("backbone", config.backbone)
        output.set_string_custom_property("weights", meta["weights"])
        output.set_string_custom_property("feature_dtype", config.dtype)
        output.set_int_custom_property("weights_random", int(meta["weights_random"]))
        output.set_int_custom_property("backbone_pretrained", int(bool(pretrained)))
        logger.info("FeatureExtractor wrote %s", output.uri)
        if output_dict.get(SCHEMA_KEY):
            schema = artifact_utils.get_single_instance(output_dict[SCHEMA_KEY])
            write_schema(schema.uri, config)
            schema.set_string_custom_property("backbone", config.backbone)
            schema.set_string_custom_property("feature_dtype", config.dtype)


def write_schema(uri: str, config: ExtractionConfig) -> str:
    """Writes the schema of `config`'s features as `<uri>/schema.pbtxt`; returns its path."""
    path = os.path.join(uri, SCHEMA_FILE)
    io_utils.write_pbtxt_file(path, features_schema(get_spec(config.backbone), config.dtype))
    return path
