"""create_pipeline's schema and anomaly wiring, the stages' nodes, the ingest split check."""

from __future__ import annotations

import json

import pytest

from pipelines.config import SCHEMA_PATH, PipelineConfig


def _config(tmp_path, **changes) -> PipelineConfig:
    return PipelineConfig(
        data_root=str(tmp_path / "data"),
        pipeline_root=str(tmp_path / "root"),
        serving_root=str(tmp_path / "serving"),
        **changes,
    )


def _producer(channel) -> str:
    return channel.producer_component_id


@pytest.mark.parametrize("pinned", [False, True])
def test_schema_comes_from_the_feature_extractor_unless_pinned(tmp_path, pinned):
    from pipelines.pipeline import create_pipeline
    from pipelines.stages import stage_nodes

    config = _config(tmp_path, backbone="mobilenet_v2", schema_path=SCHEMA_PATH if pinned else "")
    pipeline = create_pipeline(config)
    nodes = {c.id: c for c in pipeline.components}
    schema_from = "ImportSchemaGen" if pinned else "FeatureExtractor"
    for node in ("StatisticsGen", "ExampleValidator", "Trainer"):
        assert _producer(nodes[node].inputs["schema"]) == schema_from, node
    assert ("ImportSchemaGen" in nodes) is pinned
    if pinned:
        assert nodes["ImportSchemaGen"].exec_properties["schema_file"] == SCHEMA_PATH
    assert nodes["FeatureExtractor"].exec_properties["backbone"] == "mobilenet_v2"
    # The evaluator gates on the validator's anomalies: a single run never pushes on them.
    assert _producer(nodes["CaptionEvaluator"].inputs["anomalies"]) == "ExampleValidator"
    expected = ("StatisticsGen", "ImportSchemaGen", "ExampleValidator")
    assert stage_nodes("validate", pipeline) == (expected if pinned else expected[::2])


def test_relative_schema_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _config(tmp_path, schema_path="s.pbtxt").schema_path == str(tmp_path / "s.pbtxt")
    assert _config(tmp_path).schema_path == ""


def _root_with(tmp_path, files: list[str]):
    for name in files:
        path = tmp_path / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def test_split_summary_names_the_files_of_missing_splits(tmp_path):
    from pipelines.airflow_tasks import split_summary

    _root_with(tmp_path, ["sis/val.story-in-sequence.json"])
    config = _config(tmp_path)
    summary = split_summary(config, json.dumps(["val"]))
    train = tmp_path / "data" / "sis" / "train.story-in-sequence.json"
    assert summary["splits"] == ["val"]
    assert summary["splits_absent"] == ["train", "test"]
    assert summary["missing_splits"] == {"train": [f"{train} (missing)"]}
    assert summary["splits_message"] == (
        f"{tmp_path / 'data'} cannot be used for retraining: "
        f"split 'train' is absent: {train} (missing)"
    )
    # Both annotation tiers, and an eval split that is absent too.
    config = _config(tmp_path, tasks=("sis", "dii"), eval_splits=("test",))
    missing = split_summary(config, json.dumps(["val"]))["missing_splits"]
    assert sorted(missing) == ["test", "train"]
    dii = tmp_path / "data" / "dii" / "test.description-in-isolation.json"
    assert missing["test"][1] == f"{dii} (missing)"


def test_split_summary_with_every_needed_split(tmp_path):
    from pipelines.airflow_tasks import split_summary

    summary = split_summary(_config(tmp_path), json.dumps(["train", "val"]))
    assert summary["missing_splits"] == {} and summary["splits_absent"] == ["test"]
    assert summary["splits_message"] == "splits train, val"
    # No split_names at all (nothing ingested): every needed split is missing.
    assert sorted(split_summary(_config(tmp_path), None)["missing_splits"]) == ["train", "val"]
