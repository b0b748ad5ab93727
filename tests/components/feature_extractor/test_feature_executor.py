"""The FeatureExtractor TFX component: its executor's Do() on a tmp dir, and the component spec."""

from __future__ import annotations

import pytest
from fx_data import REFERENCE_CONFIG, read_dir_bytes


@pytest.fixture(scope="module")
def tfx_modules():
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts

    return examples_utils, example_gen_pb2, artifact_utils, standard_artifacts


def _examples_artifact(tfx_modules, uri, payload):
    examples_utils, example_gen_pb2, artifact_utils, standard_artifacts = tfx_modules
    examples = standard_artifacts.Examples()
    examples.uri = str(uri)
    examples.split_names = artifact_utils.encode_split_names(["train", "val", "test"])
    examples_utils.set_payload_format(examples, getattr(example_gen_pb2.PayloadFormat, payload))
    return examples


def test_executor_do_writes_a_feature_examples_artifact(
    tfx_modules, fx_dataset, fx_reference, tmp_path
):
    from components.feature_extractor import executor

    examples_utils, example_gen_pb2, artifact_utils, standard_artifacts = tfx_modules
    examples = _examples_artifact(tfx_modules, fx_dataset, "FORMAT_TF_SEQUENCE_EXAMPLE")
    output = standard_artifacts.Examples()
    output.uri = str(tmp_path / "FeatureExtractor" / "examples" / "7")
    (tmp_path / "FeatureExtractor" / "examples" / "7").mkdir(parents=True)  # as TFX does
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "FeatureExtractor" / "schema" / "7")

    context = executor.Executor.Context(
        beam_pipeline_args=["--runner=DirectRunner"], tmp_dir=str(tmp_path / "tmp")
    )
    executor.Executor(context).Do(
        {executor.INPUT_EXAMPLES_KEY: [examples]},
        {executor.EXAMPLES_KEY: [output], executor.SCHEMA_KEY: [schema]},
        {
            executor.BACKBONE_KEY: REFERENCE_CONFIG["backbone"],
            executor.SEED_KEY: REFERENCE_CONFIG["seed"],
            executor.NUM_SHARDS_KEY: REFERENCE_CONFIG["num_shards"],
            executor.WEIGHTS_KEY: None,  # unset optional properties take the defaults
        },
    )
    assert artifact_utils.decode_split_names(output.split_names) == ["train", "val", "test"]
    assert examples_utils.get_payload_format_string(output) == "FORMAT_TF_SEQUENCE_EXAMPLE"
    assert output.get_string_custom_property("backbone") == "tiny"
    assert output.get_string_custom_property("weights") == "random(seed=0)"
    assert output.get_int_custom_property("weights_random") == 1
    # Split-<split>/ under the artifact URI, where StatisticsGen/Trainer look; same bytes as the
    # standalone job.
    ref_out, _ = fx_reference
    assert read_dir_bytes(tmp_path / "FeatureExtractor" / "examples" / "7") == read_dir_bytes(
        ref_out
    )
    # The schema of what was written, where ExampleValidator reads one (the only file in the
    # artifact dir): the checked-in tiny/float32 schema.
    from tfx.utils import io_utils

    from vistflow import feature_schema as fs

    assert sorted(p.name for p in (tmp_path / "FeatureExtractor" / "schema" / "7").iterdir()) == [
        "schema.pbtxt"
    ]
    written = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    assert written == fs.load_checked_in_schema()
    assert schema.get_string_custom_property("backbone") == "tiny"


def test_executor_rejects_tf_example_payloads(tfx_modules, fx_dataset, tmp_path):
    from components.feature_extractor import executor
    from vistflow.errors import VistflowError

    *_, standard_artifacts = tfx_modules
    output = standard_artifacts.Examples()
    output.uri = str(tmp_path / "out")
    with pytest.raises(VistflowError, match="expected FORMAT_TF_SEQUENCE_EXAMPLE"):
        executor.Executor().Do(
            {"input_examples": [_examples_artifact(tfx_modules, fx_dataset, "FORMAT_TF_EXAMPLE")]},
            {"examples": [output]},
            {"backbone": "tiny"},
        )
    assert not (tmp_path / "out").exists()


def test_component_spec_wires_input_examples_to_examples(tfx_modules):
    from tfx import types

    from components.feature_extractor.component import FeatureExtractor

    *_, standard_artifacts = tfx_modules
    component = FeatureExtractor(
        examples=types.Channel(type=standard_artifacts.Examples),
        backbone="vgg16",
        dtype="float16",
        store_images=True,
    ).with_beam_pipeline_args(["--direct_num_workers=2"])
    assert component.outputs["examples"].type == standard_artifacts.Examples
    assert component.outputs["schema"].type == standard_artifacts.Schema
    assert component.inputs["input_examples"].type == standard_artifacts.Examples
    assert component.exec_properties["backbone"] == "vgg16"
    assert component.exec_properties["dtype"] == "float16"
    assert component.exec_properties["store_images"] == 1
    assert component.exec_properties["weights"] == "random"


def test_import_example_gen_reads_the_features_as_sequence_examples(
    tfx_modules, fx_reference, tmp_path
):
    import tensorflow as tf
    from google.protobuf import json_format
    from tfx.components.example_gen.import_example_gen import executor as import_executor

    examples_utils, example_gen_pb2, _, standard_artifacts = tfx_modules
    ref_out, _ = fx_reference
    splits = ("train", "val", "test")
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name=s, pattern=f"Split-{s}/*") for s in splits]
    )
    output = standard_artifacts.Examples()
    output.uri = str(tmp_path / "imported")
    import_executor.Executor().Do(
        {},
        {"examples": [output]},
        {
            "input_base": str(ref_out),
            "input_config": json_format.MessageToJson(input_config),
            "output_config": json_format.MessageToJson(example_gen_pb2.Output()),
            "output_data_format": example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE,
            "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        },
    )
    assert examples_utils.get_payload_format_string(output) == "FORMAT_TF_SEQUENCE_EXAMPLE"

    def records(root, split):
        files = sorted(str(p) for p in (root / f"Split-{split}").iterdir())
        return sorted(r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))

    for split in splits:
        assert records(tmp_path / "imported", split) == records(ref_out, split)
