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


def test_unspanned_run_trains_on_its_own_examples_warm_started(tmp_path):
    from pipelines.pipeline import create_pipeline
    from pipelines.stages import stage_nodes

    pipeline = create_pipeline(_config(tmp_path))
    nodes = {c.id: c for c in pipeline.components}
    assert "training_window_resolver" not in nodes and "holdout_examples_resolver" not in nodes
    assert _producer(nodes["Trainer"].inputs["examples"]) == "FeatureExtractor"
    assert _producer(nodes["Trainer"].inputs["base_model"]) == "warm_start_model_resolver"
    assert "holdout_examples" not in nodes["CaptionEvaluator"].inputs
    assert stage_nodes("train", pipeline) == ("warm_start_model_resolver", "Trainer")


def test_spanned_run_trains_on_a_window_and_is_evaluated_on_the_holdout(tmp_path):
    from pipelines.pipeline import create_pipeline
    from pipelines.stages import stage_nodes

    config = _config(tmp_path, span=20261019, training_window="2", holdout_split="test")
    pipeline = create_pipeline(config)
    nodes = {c.id: c for c in pipeline.components}
    assert nodes["VistExampleGen"].exec_properties["span"] == 20261019
    window = nodes["training_window_resolver"]
    assert window.exec_properties["source_uri"] == {
        "max_span": 20261019,
        "num_spans": 2,
        "splits": ["train", "val"],
    }
    assert "FeatureExtractor" in {n.id for n in window.upstream_nodes}
    assert _producer(nodes["Trainer"].inputs["examples"]) == "training_window_resolver"
    holdout = nodes["holdout_examples_resolver"]
    assert holdout.exec_properties["source_uri"] == {
        "max_span": 20261019,
        "oldest": True,
        "span": 0,
        "splits": ["test"],
    }
    evaluator = nodes["CaptionEvaluator"]
    assert _producer(evaluator.inputs["holdout_examples"]) == "holdout_examples_resolver"
    assert evaluator.exec_properties["holdout_split"] == "test"
    # The evaluator compares on this partition's own val split.
    assert _producer(evaluator.inputs["examples"]) == "FeatureExtractor"
    for resolver in ("warm_start_model_resolver", "latest_blessed_model_resolver"):
        assert nodes[resolver].exec_properties["source_uri"] == {"before_span": 20261019}
    assert stage_nodes("train", pipeline) == (
        "training_window_resolver",
        "warm_start_model_resolver",
        "Trainer",
    )
    assert stage_nodes("evaluate", pipeline) == (
        "latest_blessed_model_resolver",
        "holdout_examples_resolver",
        "CaptionEvaluator",
    )


def test_no_warm_start_and_no_holdout(tmp_path):
    from pipelines.pipeline import create_pipeline

    config = _config(tmp_path, span=7, warm_start=False, holdout="none")
    nodes = {c.id: c for c in create_pipeline(config).components}
    assert "base_model" not in nodes["Trainer"].inputs
    assert "warm_start_model_resolver" not in nodes and "holdout_examples_resolver" not in nodes
    pinned = _config(tmp_path, span=7, holdout=3)
    nodes = {c.id: c for c in create_pipeline(pinned).components}
    assert nodes["holdout_examples_resolver"].exec_properties["source_uri"]["span"] == 3


def test_window_and_holdout_settings_are_checked(tmp_path):
    assert _config(tmp_path).window_spans() == 0
    assert _config(tmp_path, training_window=4).window_spans() == 4
    with pytest.raises(ValueError, match="training_window 'last'"):
        _config(tmp_path, training_window="last")
    with pytest.raises(ValueError, match="holdout 'oldest'"):
        _config(tmp_path, holdout="oldest")
    assert _config(tmp_path, holdout="none").holdout_span() is None


def test_airflow_partition_span_is_the_logical_date(tmp_path):
    from pipelines.airflow_tasks import partition_span, pipeline_config

    assert partition_span("2026-11-02") == 20261102
    config = pipeline_config(tmp_path, "2026-11-02")
    assert config.span == 20261102 and config.data_root.endswith("landing/2026-11-02")


def test_vistflow_run_flags_set_the_retraining_fields(tmp_path):
    import argparse

    from pipelines.local_runner import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--data-root", "d", "--pipeline-root", "p", "--serving-root", "s"]

    def config(argv):
        args = parser.parse_args(argv)
        args.beam_args = []  # what `vistflow run` passes when no Beam options follow
        return config_from_args(args)

    defaults = config(base)
    assert defaults.span == 0 and defaults.training_window == "all"
    assert defaults.warm_start is True and defaults.holdout == "first"
    custom = config(
        [*base, "--span", "20261102", "--training-window", "3", "--no-warm-start"]
        + ["--holdout", "none", "--holdout-split", "val"]
    )
    assert custom.span == 20261102 and custom.window_spans() == 3
    assert custom.warm_start is False and custom.holdout_span() is None
    assert custom.holdout_split == "val"


def test_trainer_runs_the_executor_that_records_spans(tmp_path):
    from pipelines import trainer_executor
    from pipelines.pipeline import create_pipeline

    nodes = {c.id: c for c in create_pipeline(_config(tmp_path, span=3)).components}
    assert nodes["Trainer"].executor_spec.executor_class is trainer_executor.Executor


def test_concept_pretrainer_feeds_the_feature_extractor_by_default(tmp_path):
    from pipelines.pipeline import CONCEPT_RESOLVER, create_pipeline
    from pipelines.stages import base_stage, stage_nodes

    nodes = {c.id: c for c in create_pipeline(_config(tmp_path)).components}
    assert _producer(nodes["FeatureExtractor"].inputs["backbone_model"]) == "ConceptPretrainer"
    assert _producer(nodes["ConceptPretrainer"].inputs["examples"]) == "VistExampleGen"
    assert CONCEPT_RESOLVER not in nodes  # unspanned: nothing earlier to reuse
    assert base_stage("features", _config(tmp_path)) == "concepts"

    # Spanned: an earlier span's concept backbone is resolved for reuse, in the concepts stage.
    spanned = create_pipeline(_config(tmp_path, span=20261116))
    nodes = {c.id: c for c in spanned.components}
    assert _producer(nodes["ConceptPretrainer"].inputs["base_model"]) == CONCEPT_RESOLVER
    assert stage_nodes("concepts", spanned) == (CONCEPT_RESOLVER, "ConceptPretrainer")

    off = _config(tmp_path, concept_pretraining=False)
    nodes = {c.id: c for c in create_pipeline(off).components}
    assert (
        "ConceptPretrainer" not in nodes
        and "backbone_model" not in nodes["FeatureExtractor"].inputs
    )
    # The features stage then builds on the ingest stage's pipeline run.
    assert base_stage("features", off) == "ingest"


def test_metadata_connection_from_config(tmp_path):
    from pipelines.pipeline import create_pipeline

    sqlite = create_pipeline(_config(tmp_path)).metadata_connection_config
    assert sqlite.sqlite.filename_uri == str(tmp_path / "root" / "metadata.sqlite")
    url = "postgresql://mlmd@db.internal:5433/vistflow_mlmd"
    server = create_pipeline(_config(tmp_path, metadata_connection=url))
    pg = server.metadata_connection_config.postgresql
    assert (pg.host, pg.port, pg.user, pg.dbname) == (
        "db.internal",
        "5433",
        "mlmd",
        "vistflow_mlmd",
    )


@pytest.mark.parametrize(
    "tasks, evaluator_config, expected, joint",
    [
        (("sis",), {}, "story_from_features", False),  # stories scored as `story` serves them
        (("sis", "dii"), {}, "story_from_features", False),
        (("dii",), {}, "from_features", False),  # photos captioned one by one
        (("sis",), {"signature_name": "from_features"}, "from_features", False),  # the user's
        # A jointly fine-tuned CNN (001) exports image signatures only.
        (("sis",), {}, "story", True),
        (("dii",), {}, "serving_default", True),
    ],
)
def test_the_evaluator_decodes_stories_with_the_story_signature(
    tmp_path, tasks, evaluator_config, expected, joint
):
    from pipelines.pipeline import create_pipeline

    config = _config(
        tmp_path,
        tasks=tasks,
        evaluator_config=evaluator_config,
        trainer_config={"fine_tune_cnn": True} if joint else {},
    )
    nodes = {c.id: c for c in create_pipeline(config).components}
    assert nodes["CaptionEvaluator"].exec_properties["signature_name"] == expected
