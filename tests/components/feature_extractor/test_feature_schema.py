"""schemas/features_schema.pbtxt under TFDV (ExampleValidator semantics: validate_statistics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.feature_extractor import schema as fs
from components.feature_extractor.backbones import SPECS


def _write_gz(path: Path, records: list[bytes]) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), "GZIP") as writer:
        for record in records:
            writer.write(record)


@pytest.fixture(scope="module")
def anomalies(fx_reference, tmp_path_factory):
    """{dataset: {feature path: anomaly short description}} for clean and broken batches."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from tensorflow.core.example import example_pb2
    from tfx_bsl.public import tfxio

    ref_out, _ = fx_reference
    root = tmp_path_factory.mktemp("fx_schema")
    files = sorted(str(p) for p in ref_out.glob("Split-*/*.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]

    def broken(edit) -> list[bytes]:
        example = example_pb2.SequenceExample.FromString(records[0])
        edit(example)
        return [example.SerializeToString(), *records[1:]]

    def wrong_dim(ex):  # one photo's fc vector one value short
        del ex.feature_lists.feature_list["global_features"].feature[2].float_list.value[-1]

    def no_text(ex):
        del ex.feature_lists.feature_list["text"]

    def bad_split(ex):
        ex.context.feature["split"].bytes_list.value[:] = [b"training"]

    batches = {"wrong_dim": wrong_dim, "no_text": no_text, "bad_split": bad_split}
    for name, edit in batches.items():
        _write_gz(root / name / "data.gz", broken(edit))

    # One Beam pipeline computes every batch's statistics (each pipeline costs seconds).
    patterns = {"clean": str(ref_out / "Split-*" / "*.gz")}
    patterns.update({name: str(root / name / "*.gz") for name in batches})
    with beam.Pipeline() as p:
        for name, pattern in patterns.items():
            source = tfxio.TFSequenceExampleRecord(pattern, telemetry_descriptors=["vistflow"])
            _ = (
                p
                | f"Read {name}" >> source.BeamSource()
                | f"Stats {name}" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
                | f"Write {name}" >> tfdv.WriteStatisticsToBinaryFile(str(root / f"{name}.stats"))
            )
    schema = fs.load_checked_in_schema()
    found = {}
    for name in patterns:
        stats = tfdv.load_stats_binary(str(root / f"{name}.stats"))
        result = tfdv.validate_statistics(stats, schema)
        found[name] = {k: v.short_description for k, v in result.anomaly_info.items()}
    return found


def test_clean_features_have_no_anomalies(anomalies):
    assert anomalies["clean"] == {}


def test_broken_batches_are_flagged(anomalies):
    assert anomalies["wrong_dim"] == {"##SEQUENCE##.global_features": "Missing values"}
    assert anomalies["no_text"] == {"##SEQUENCE##.text": "Column dropped"}
    assert list(anomalies["bad_split"]) == ["split"]


def test_schema_for_other_backbones_and_float16():
    vgg = fs.features_schema(SPECS["vgg16"])
    sequence = {f.name: f for f in fs._find(vgg.feature, fs.SEQUENCE_STRUCT).struct_domain.feature}
    assert sequence["global_features"].value_counts.value_count[1].min == 4096
    assert sequence["local_features"].value_counts.value_count[1].max == 14 * 14 * 512
    domains = {d.name: list(d.value) for d in vgg.string_domain}
    assert domains["backbone"] == ["vgg16"] and domains["split"] == ["train", "val", "test"]
    context = {f.name: f for f in vgg.feature}
    assert context["global_dim"].int_domain.min == context["global_dim"].int_domain.max == 4096

    half = fs.features_schema(SPECS["tiny"], "float16")
    names = {f.name for f in fs._find(half.feature, fs.SEQUENCE_STRUCT).struct_domain.feature}
    assert {"global_features_f16", "local_features_f16"} <= names
    assert "global_features" not in names
    # The checked-in file is exactly the tiny/float32 schema.
    assert fs.features_schema(SPECS["tiny"]) == fs.load_checked_in_schema()
