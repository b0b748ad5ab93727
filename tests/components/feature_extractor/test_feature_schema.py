"""schemas/features_schema.pbtxt under TFDV (ExampleValidator semantics: validate_statistics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vistflow import feature_schema as fs
from vistflow.backbones import SPECS


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


# ---- the schema follows the backbone: real FeatureExtractor, StatisticsGen, ExampleValidator ----

BACKBONE_RUNS = [
    ("tiny", "float32"),
    ("tiny", "float16"),
    ("mobilenet_v2", "float32"),
    ("resnet50", "float32"),
    ("inception_v3", "float32"),
    ("vgg16", "float32"),
]
# Beam's defaults (in memory, one worker). Any arg makes TFX build an sdist of itself first.
_BEAM_ARGS: list[str] = []


def _artifact(kind: str, uri, **props):
    from tfx.types import standard_artifacts

    artifact = getattr(standard_artifacts, kind)()
    artifact.uri = str(uri)
    for key, value in props.items():
        setattr(artifact, key, value)
    return artifact


def _extract(dataset: Path, root: Path, backbone: str, dtype: str):
    """The FeatureExtractor executor on `dataset`: (Examples, Schema) artifacts."""
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils

    from components.feature_extractor import executor as fx

    examples = _artifact(
        "Examples", dataset, split_names=artifact_utils.encode_split_names(["train", "val", "test"])
    )
    examples_utils.set_payload_format(
        examples, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
    )
    out, schema = _artifact("Examples", root / "examples"), _artifact("Schema", root / "schema")
    context = fx.Executor.Context(beam_pipeline_args=_BEAM_ARGS, tmp_dir=str(root / "tmp"))
    fx.Executor(context).Do(
        {fx.INPUT_EXAMPLES_KEY: [examples]},
        {fx.EXAMPLES_KEY: [out], fx.SCHEMA_KEY: [schema]},
        {fx.BACKBONE_KEY: backbone, fx.DTYPE_KEY: dtype, fx.NUM_SHARDS_KEY: 1},
    )
    return out, schema


def _statistics(examples, schema, uri: Path):
    from tfx.components.statistics_gen import executor as sg

    stats = _artifact("ExampleStatistics", uri)
    context = sg.Executor.Context(beam_pipeline_args=_BEAM_ARGS, tmp_dir=str(uri) + ".tmp")
    sg.Executor(context).Do(
        {"examples": [examples], "schema": [schema]}, {"statistics": [stats]}, {}
    )
    return stats


def _validate(stats, schema, uri: Path) -> dict[str, list[str]]:
    """ExampleValidator's executor; its SchemaDiff.pb files read as the pipeline reads them."""
    from tfx.components.example_validator import executor as ev

    from pipelines.airflow_tasks import anomalies_found

    ev.Executor().Do(
        {"statistics": [stats], "schema": [schema]},
        {"anomalies": [_artifact("ExampleAnomalies", uri)]},
        {},
    )
    assert sorted(p.name for p in uri.glob("Split-*/SchemaDiff.pb")) != []
    return anomalies_found([str(uri)])


@pytest.fixture(scope="module")
def validated(fx_dataset, tmp_path_factory):
    """{run: anomalies} for every backbone run against its own schema, and the mismatches."""
    import shutil

    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils

    root = tmp_path_factory.mktemp("schema_follows_backbone")
    runs, found = {}, {}
    for backbone, dtype in BACKBONE_RUNS:
        name = f"{backbone}-{dtype}"
        examples, schema = _extract(fx_dataset, root / name, backbone, dtype)
        stats = _statistics(examples, schema, root / name / "stats")
        runs[name] = (examples, schema, stats)
        found[name] = _validate(stats, schema, root / name / "anomalies")
        if backbone == "vgg16":  # 0.5 GB of weights per copy: don't keep them around
            shutil.rmtree(Path(examples.uri) / "backbone", ignore_errors=True)

    def against(stats_of: str, schema_of: str) -> dict[str, list[str]]:
        out = root / f"{stats_of}-vs-{schema_of}"
        return _validate(runs[stats_of][2], runs[schema_of][1], out)

    found["tiny features, mobilenet_v2 schema"] = against("tiny-float32", "mobilenet_v2-float32")
    found["float16 features, float32 schema"] = against("tiny-float16", "tiny-float32")

    # One Examples artifact whose train split holds stories of two backbones.
    mixed = _artifact(
        "Examples", root / "mixed", split_names=artifact_utils.encode_split_names(["train"])
    )
    examples_utils.set_payload_format(
        mixed, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
    )
    (root / "mixed" / "Split-train").mkdir(parents=True)
    for name in ("tiny-float32", "mobilenet_v2-float32"):
        for shard in sorted(Path(runs[name][0].uri, "Split-train").glob("*.gz")):
            shutil.copy(shard, root / "mixed" / "Split-train" / f"{name}-{shard.name}")
    tiny_schema = runs["tiny-float32"][1]
    mixed_stats = _statistics(mixed, tiny_schema, root / "mixed_stats")
    found["mixed, tiny schema"] = _validate(mixed_stats, tiny_schema, root / "mixed_anomalies")
    found["mixed, mobilenet_v2 schema"] = _validate(
        mixed_stats, runs["mobilenet_v2-float32"][1], root / "mixed_anomalies_m"
    )
    return found


@pytest.mark.parametrize("backbone,dtype", BACKBONE_RUNS)
def test_every_backbone_validates_clean_against_its_schema(validated, backbone, dtype):
    assert validated[f"{backbone}-{dtype}"] == {}


def _features(found: dict[str, list[str]], split: str) -> set[str]:
    return {problem.split(":")[0] for problem in found[split]}


def test_features_of_another_backbone_are_anomalies(validated):
    found = validated["tiny features, mobilenet_v2 schema"]
    assert sorted(found) == ["test", "train", "val"]
    assert {"global_dim", "backbone", "##SEQUENCE##.global_features"} <= _features(found, "train")
    assert any("Unexpectedly small value: 128" in p for p in found["train"])
    assert any(p.startswith("##SEQUENCE##.global_features: Missing values") for p in found["val"])


def test_float16_features_against_a_float32_schema_are_anomalies(validated):
    found = validated["float16 features, float32 schema"]
    assert {"feature_dtype", "##SEQUENCE##.global_features"} <= _features(found, "train")


def test_a_mix_of_backbones_in_one_artifact_is_an_anomaly(validated):
    for key, other in (
        ("mixed, tiny schema", "mobilenet_v2"),
        ("mixed, mobilenet_v2 schema", "tiny"),
    ):
        found = validated[key]
        assert list(found) == ["train"], key
        assert {"backbone", "global_dim"} <= _features(found, "train"), found
        assert any(f"{other} (~" in p for p in found["train"]), found  # the stray backbone named
