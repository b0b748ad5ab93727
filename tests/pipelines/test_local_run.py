"""`vistflow run` (the whole TFX pipeline, LocalDagRunner) with a real backbone, end to end.

Two runs share one pipeline root, as a user's would: mobilenet_v2 (random weights) features
validate against the schema derived for mobilenet_v2, the model is trained, evaluated, blessed
and pushed. The same data against the pinned checked-in schema (tiny) is a real mismatch:
ExampleValidator writes anomalies, the evaluator does not bless, nothing is pushed, the command
names the anomalies and exits 3. Ingest and features come from the cache the second time.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

TRAINER = {
    "model": "show_attend_tell",
    "epochs": 2,
    "hidden_dim": 16,
    "embedding_dim": 16,
    "attention_dim": 16,
    "min_count": 1,
    "batch_size": 8,
    "learning_rate": 0.01,
    "decoding": {"method": "greedy", "max_length": 8},
}
EXPECTED_TRAIN_ANOMALIES = [
    "##SEQUENCE##.global_features: Superfluous values "
    "(Some examples have more values than expected at nestedness level 1.)",
    "##SEQUENCE##.local_features: Superfluous values "
    "(Some examples have more values than expected at nestedness level 1.)",
    "backbone: Unexpected string values "
    "(Examples contain values missing from the schema: mobilenet_v2 (~100%).)",
    "global_dim: Out-of-range values (Unexpectedly large value: 1280.)",
    "local_shape: Multiple errors (Unexpectedly small value: 7. Unexpectedly large value: 1280.)",
]


def _vistflow(argv: list[str]) -> tuple[int, str, str]:
    from commands import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def _run_outputs(root: Path) -> list[dict]:
    """Per pipeline run, in order: output URIs and custom properties by "<node>.<key>"."""
    from ml_metadata import metadata_store
    from tfx.dsl.compiler import constants
    from tfx.orchestration import metadata

    from pipelines.config import PipelineConfig
    from pipelines.stages import stage_outputs

    config = PipelineConfig(data_root=str(root), pipeline_root=str(root), serving_root=str(root))
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(config.metadata_path)
    )
    runs = sorted(
        store.get_contexts_by_type(constants.PIPELINE_RUN_CONTEXT_TYPE_NAME), key=lambda c: c.id
    )
    nodes = (
        "ConceptPretrainer",
        "FeatureExtractor",
        "Trainer",
        "ExampleValidator",
        "CaptionEvaluator",
        "Pusher",
    )
    return [
        dict(zip(("outputs", "properties"), stage_outputs(config, run.name, nodes), strict=True))
        for run in runs
    ]


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    from pipelines.config import SCHEMA_PATH
    from vistflow.synth import generate

    tmp = tmp_path_factory.mktemp("vistflow_run")
    generate(tmp / "data", stories=30, seed=11, fault_rate=0.0)  # 64 px images
    argv = [
        "run",
        "--data-root",
        str(tmp / "data"),
        "--pipeline-root",
        str(tmp / "root"),
        "--serving-root",
        str(tmp / "serving"),
        "--backbone",
        "mobilenet_v2",
        "--train-steps",
        "16",
        "--trainer-config",
        json.dumps(TRAINER),
        "--evaluator-config",
        json.dumps({"meteor": "none", "report_samples": 1}),
        # The concept stage on a real backbone (the only test of it): one epoch on 32 photos
        # walks the path (224 px decode, fine-tuning mobilenet_v2, the saved backbone the
        # features use) without minutes of CPU.
        "--concept-config",
        json.dumps({"epochs": 1, "max_train_photos": 32, "min_count": 2}),
    ]
    clean = _vistflow(argv)
    pinned = _vistflow([*argv, "--schema", SCHEMA_PATH])
    return {
        "clean": clean,
        "pinned": pinned,
        "runs": _run_outputs(tmp / "root"),
        "serving": tmp / "serving" / "vist_captioner",
    }


def test_mobilenet_v2_run_validates_trains_evaluates_and_pushes(local_runs):
    from pipelines.airflow_tasks import anomalies_found

    rc, out, err = local_runs["clean"]
    assert rc == 0, err[-3000:]
    first = local_runs["runs"][0]
    outputs, props = first["outputs"], first["properties"]
    # Validated against the schema derived for mobilenet_v2: a SchemaDiff.pb per split, empty.
    (anomalies_uri,) = outputs["ExampleValidator.anomalies"]
    assert sorted(p.parent.name for p in Path(anomalies_uri).glob("Split-*/SchemaDiff.pb")) == [
        "Split-test",
        "Split-train",
        "Split-val",
    ]
    assert anomalies_found([anomalies_uri]) == {}
    (model_uri,) = outputs["Trainer.model"]
    assert (Path(model_uri) / "Format-Serving" / "saved_model.pb").is_file()
    assert props["CaptionEvaluator.blessing"]["blessed"] == 1
    assert props["CaptionEvaluator.blessing"]["eval_items"] > 0
    assert props["Pusher.pushed_model"]["pushed"] == 1
    assert sorted(p.name for p in local_runs["serving"].iterdir()) == ["1"]
    assert f"blessed and pushed to {local_runs['serving'] / '1'}" in out


def test_the_features_come_from_the_concept_pretrained_mobilenet_v2(local_runs):
    outputs = local_runs["runs"][0]["outputs"]
    (concepts_uri,) = outputs["ConceptPretrainer.model"]
    concepts = json.loads((Path(concepts_uri) / "concepts.json").read_text())
    assert concepts["backbone"] == "mobilenet_v2" and concepts["photos"]["train"] == 32
    assert concepts["num_concepts"] > 0 and len(concepts["history"]) == 1
    (examples_uri,) = outputs["FeatureExtractor.examples"]
    meta = json.loads((Path(examples_uri) / "backbone" / "backbone.json").read_text())
    assert meta["name"] == "mobilenet_v2"
    assert meta["weights"]["origin"]["weights"] == "concept-pretrained"
    assert meta["weights"]["weights"] == str(
        Path(concepts_uri) / "backbone" / "backbone.weights.h5"
    )


def test_pinned_schema_mismatch_is_reported_and_nothing_is_pushed(local_runs):
    rc, out, err = local_runs["pinned"]
    assert rc == 3, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("vistflow run: error: pipeline run local-")
    assert last.endswith(
        "ExampleValidator found anomalies in split(s) test, train, val; nothing was pushed"
    )
    assert "anomaly in split train: global_dim: Out-of-range values" in err
    second = local_runs["runs"][1]
    blessing = second["properties"]["CaptionEvaluator.blessing"]
    assert blessing["blessed"] == 0
    assert json.loads(blessing["anomalies"])["train"] == EXPECTED_TRAIN_ANOMALIES
    (blessing_uri,) = second["outputs"]["CaptionEvaluator.blessing"]
    reasons = json.loads((Path(blessing_uri) / "reasons.json").read_text())
    assert reasons["evaluated"] is False and reasons["checks"][0]["name"] == "anomalies"
    assert second["properties"]["Pusher.pushed_model"]["pushed"] == 0
    assert sorted(p.name for p in local_runs["serving"].iterdir()) == ["1"]  # still only run 1's


def test_anomalies_found_reads_example_validator_schema_diffs(local_runs):
    """pipelines.airflow_tasks.anomalies_found on the SchemaDiff.pb files ExampleValidator wrote."""
    from pipelines.airflow_tasks import anomalies_found

    uris = local_runs["runs"][1]["outputs"]["ExampleValidator.anomalies"]
    found = anomalies_found(uris)
    assert sorted(found) == ["test", "train", "val"]
    assert found["train"] == EXPECTED_TRAIN_ANOMALIES
    assert found["val"] == found["test"] == found["train"]
