"""VistExampleGen (TFX): the component's spec and its executor's Do() into artifact dirs."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts

from components.vist_example_gen import DataQualityReport, Rejects, VistExampleGen
from components.vist_example_gen import executor as ex
from vistflow import example_format as ef
from vistflow.errors import VistflowError


def artifacts(root):
    examples, rejects, report = standard_artifacts.Examples(), Rejects(), DataQualityReport()
    examples.uri, rejects.uri, report.uri = (
        str(root / n / "7") for n in ("examples", "rejects", "report")
    )
    return {"examples": [examples], "rejects": [rejects], "report": [report]}


def run_do(component, outputs):
    # No beam_pipeline_args: with any, TFX first builds an sdist of the caller's package
    # (dependency_utils.build_ephemeral_package, ~5 s) for remote workers.
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=[])
    ex.Executor(context).Do({}, outputs, component.exec_properties)


def test_component_spec():
    gen = VistExampleGen(data_root="/data/vist", tasks="sis,dii", max_image_pixels=1000)
    assert set(gen.outputs) == {"examples", "rejects", "report"}
    assert gen.outputs["examples"].type is standard_artifacts.Examples
    assert gen.outputs["rejects"].type_name == "vistflow.Rejects"
    assert gen.outputs["report"].type_name == "vistflow.DataQualityReport"
    assert gen.exec_properties["tasks"] == "sis,dii"
    assert gen.exec_properties["max_image_pixels"] == 1000
    config = ex.config_from_exec_properties(gen.exec_properties)
    assert (config.tasks, config.limits.max_pixels, config.num_shards) == (("sis", "dii"), 1000, 4)


def test_do_writes_the_artifacts_like_the_cli(synth_faulty, faulty_ingest, tmp_path):
    reference, report = faulty_ingest
    outputs = artifacts(tmp_path)
    run_do(VistExampleGen(data_root=str(synth_faulty)), outputs)
    examples = outputs["examples"][0]
    rejects, quality = outputs["rejects"][0], outputs["report"][0]

    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "val", "test"]
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_SEQUENCE_EXAMPLE"
    assert examples.get_string_custom_property("file_format") == "tfrecords_gzip"
    assert quality.get_int_custom_property("accepted") == report["totals"]["accepted"]
    assert rejects.get_int_custom_property("rejected") == report["totals"]["rejected"]
    assert not (tmp_path / "examples" / "7.incomplete").exists()

    # Same function as the CLI: same bytes.
    for split in ("train", "val", "test"):
        split_dir = tmp_path / "examples" / "7" / f"Split-{split}"
        names = sorted(p.name for p in split_dir.iterdir())
        assert names == sorted(
            p.name for p in (reference / "examples" / f"Split-{split}").iterdir()
        )
        for name in names:
            assert (split_dir / name).read_bytes() == (
                reference / "examples" / f"Split-{split}" / name
            ).read_bytes()
    assert (tmp_path / "rejects/7/rejects.jsonl").read_bytes() == (
        reference / "rejects.jsonl"
    ).read_bytes()
    assert json.loads((tmp_path / "report/7/report.json").read_text()) == report
    assert (tmp_path / "report/7/report.html").stat().st_size > 10_000


def test_tensorflow_reads_the_examples(faulty_ingest):
    reference, report = faulty_ingest
    files = sorted(str(p) for p in (reference / "examples" / "Split-train").glob(ef.SHARD_PATTERN))
    ids = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        # TensorFlow's own proto re-serializes our bytes identically.
        proto = tf.train.SequenceExample.FromString(record.numpy())
        assert proto.SerializeToString(deterministic=True) == record.numpy()
        context, sequence = tf.io.parse_single_sequence_example(
            record,
            context_features={
                ef.ID: tf.io.FixedLenFeature([], tf.string),
                ef.TASK: tf.io.FixedLenFeature([], tf.string),
            },
            sequence_features={
                ef.PHOTO_ID: tf.io.FixedLenSequenceFeature([], tf.string),
                ef.IMAGE_URI: tf.io.FixedLenSequenceFeature([], tf.string),
                ef.TEXT: tf.io.RaggedFeature(tf.string),
            },
        )
        assert context[ef.TASK].numpy() == b"sis"
        assert sequence[ef.PHOTO_ID].shape == (5,) and sequence[ef.IMAGE_URI].shape == (5,)
        assert sequence[ef.TEXT].shape[0] == 5
        image = tf.io.decode_image(tf.io.read_file(sequence[ef.IMAGE_URI][0]), channels=3)
        assert image.shape[-1] == 3
        ids.append(context[ef.ID].numpy())
    assert len(ids) == len(set(ids)) == report["train"]["accepted"]


def test_do_fails_clearly_and_leaves_no_staging(tmp_path):
    with pytest.raises(VistflowError, match="data root does not exist"):
        run_do(VistExampleGen(data_root=str(tmp_path / "nowhere")), artifacts(tmp_path))
    assert not (tmp_path / "examples" / "7.incomplete").exists()
