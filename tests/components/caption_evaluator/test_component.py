"""CaptionEvaluator: executor Do() on fake SavedModels, and the resolver wiring in a pipeline."""

from __future__ import annotations

import json
import os

import pytest

from components.caption_evaluator import component, executor
from components.caption_evaluator.component import CaptionEvaluator


def _props(**overrides) -> dict:
    props = {
        executor.EVAL_SPLIT_KEY: "val",
        executor.PROFILE_KEY: "coco",
        executor.GATE_METRIC_KEY: "CIDEr",
        executor.THRESHOLDS_KEY: "{}",
        executor.TOLERANCE_KEY: 0.0,
        executor.MAX_EXAMPLES_KEY: 0,
        executor.METEOR_KEY: "none",
        executor.BATCH_SIZE_KEY: 4,
        executor.SIGNATURE_KEY: "from_features",
        executor.REPORT_SAMPLES_KEY: 4,
    }
    props.update(overrides)
    return props


def _run(fakes, eval_world, out_dir, candidate, baseline=None, anomalies=None, **props):
    inputs = {
        "examples": [fakes.examples_artifact(eval_world["examples"])],
        "model": [fakes.model_artifact(eval_world[candidate], artifact_id=11)],
    }
    if baseline:
        inputs["baseline_model"] = [fakes.model_artifact(eval_world[baseline], artifact_id=7)]
    if anomalies:
        inputs["anomalies"] = [anomalies]
    blessing = fakes.blessing_artifact(out_dir)
    executor.Executor().Do(inputs, {"blessing": [blessing]}, _props(**props))
    reasons = json.loads((out_dir / "reasons.json").read_text())
    metrics = json.loads((out_dir / "metrics.json").read_text())
    return blessing, reasons, metrics


def _marker(out_dir) -> str:
    markers = sorted(n for n in os.listdir(out_dir) if n in ("BLESSED", "NOT_BLESSED"))
    assert len(markers) == 1, markers
    return markers[0]


def test_good_model_meets_threshold_and_is_blessed(fakes, eval_world, tmp_path, scored_with_fake):
    blessing, reasons, metrics = _run(
        fakes, eval_world, tmp_path, "good", thresholds=json.dumps({"CIDEr": 0.9})
    )
    assert _marker(tmp_path) == "BLESSED"
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert blessing.get_float_custom_property("CIDEr") == pytest.approx(1.0)
    assert blessing.get_string_custom_property("metric_signature").startswith("fake|profile:coco")
    assert reasons["blessed"] is True and reasons["has_baseline"] is False
    assert [(c["name"], c["metric"], c["passed"]) for c in reasons["checks"]] == [
        ("threshold", "CIDEr", True)
    ]
    assert metrics["items"] == 6 and metrics["baseline"] is None
    assert metrics["candidate"]["metrics"]["CIDEr"] == pytest.approx(1.0)
    # The scorer saw one item per photo with both references.
    predictions, references, profile = scored_with_fake[0]
    assert profile == "coco" and sorted(predictions) == [f"p{i}" for i in range(6)]
    assert predictions["p3"] == "a photo of thing 3"
    assert references["p3"] == list(eval_world["refs"][3])
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert rows[0] == {
        "id": "p0",
        "candidate": "a photo of thing 0",
        "references": list(eval_world["refs"][0]),
    }
    html = (tmp_path / "report.html").read_text()
    assert "BLESSED" in html and "NOT BLESSED" not in html
    assert html.count('src="data:image/jpeg;base64,') >= 4 + 4  # thumbnails + overlays
    assert 'alt="attention for photo"' in html  # the attention model's overlays
    assert "http://" not in html and "https://" not in html  # self-contained


def test_bad_model_fails_threshold(fakes, eval_world, tmp_path, scored_with_fake):
    blessing, reasons, _ = _run(
        fakes,
        eval_world,
        tmp_path,
        "bad",
        thresholds=json.dumps({"CIDEr": 0.5, "Bleu_1": 0.0}),
    )
    assert _marker(tmp_path) == "NOT_BLESSED"
    assert blessing.get_int_custom_property("blessed") == 0
    checks = {c["metric"]: c for c in reasons["checks"]}
    assert checks["CIDEr"]["passed"] is False and checks["CIDEr"]["value"] == 0.0
    assert checks["CIDEr"]["threshold"] == 0.5
    assert checks["Bleu_1"]["passed"] is True
    assert "CIDEr 0.0000 < 0.5000" in blessing.get_string_custom_property("blessing_message")


def test_threshold_on_metric_not_computed_fails(fakes, eval_world, tmp_path, scored_with_fake):
    # meteor="none": a METEOR gate cannot be evaluated, so it must not pass.
    blessing, reasons, _ = _run(
        fakes, eval_world, tmp_path, "good", thresholds=json.dumps({"METEOR": 0.1})
    )
    assert blessing.get_int_custom_property("blessed") == 0
    assert reasons["checks"][0]["detail"] == "METEOR was not computed"


def test_candidate_worse_than_baseline_beyond_tolerance_is_not_blessed(
    fakes, eval_world, tmp_path, scored_with_fake
):
    # half: CIDEr 0.5 (3 of 6 exact); good baseline: 1.0. Worse by 0.5 > tolerance 0.2.
    blessing, reasons, metrics = _run(
        fakes, eval_world, tmp_path, "half", baseline="good", tolerance=0.2
    )
    assert _marker(tmp_path) == "NOT_BLESSED"
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("baseline_model") == eval_world["good"]
    assert blessing.get_int_custom_property("baseline_model_id") == 7
    (check,) = reasons["checks"]
    assert check["name"] == "baseline" and check["passed"] is False
    assert check["value"] == pytest.approx(0.5) and check["threshold"] == pytest.approx(0.8)
    assert metrics["baseline"]["metrics"]["CIDEr"] == pytest.approx(1.0)
    html = (tmp_path / "report.html").read_text()
    assert "NOT BLESSED" in html and "-0.5000" in html  # the delta column
    assert "zzz qqq" in html  # the candidate's garbage is shown next to the baseline's text


def test_candidate_within_tolerance_of_baseline_is_blessed(
    fakes, eval_world, tmp_path, scored_with_fake
):
    blessing, reasons, _ = _run(fakes, eval_world, tmp_path, "half", baseline="good", tolerance=0.6)
    assert blessing.get_int_custom_property("blessed") == 1
    assert reasons["checks"][0]["passed"] is True


def test_better_candidate_than_baseline_with_threshold(
    fakes, eval_world, tmp_path, scored_with_fake
):
    blessing, reasons, _ = _run(
        fakes, eval_world, tmp_path, "good", baseline="half", thresholds='{"Bleu_1": 0.9}'
    )
    assert _marker(tmp_path) == "BLESSED"
    assert [c["name"] for c in reasons["checks"]] == ["threshold", "baseline"]
    assert len(scored_with_fake) == 2  # candidate and baseline decoded and scored separately


def test_story_model_on_sis_split_groups_stories_by_photo_sequence(
    fakes, eval_world, tmp_path, scored_with_fake
):
    blessing, _, metrics = _run(fakes, eval_world, tmp_path, "story", eval_split="test")
    predictions, references, profile = scored_with_fake[0]
    assert profile == "coco"
    key0 = "a0/p0-p1-p2-p3-p4"
    assert sorted(predictions) == [key0, "a1/p5-p6-p7-p8-p9"]
    sentences = eval_world["sentences"]
    assert predictions[key0] == " ".join(sentences[:5])
    # s0 and s1 share album a0's photo sequence: one item, two reference stories.
    assert references[key0] == [
        " ".join(f"sentence for photo {i} ." for i in range(5)),
        " ".join(f"another line for {i} ." for i in range(5)),
    ]
    assert metrics["items"] == 2
    assert blessing.get_float_custom_property("CIDEr") == pytest.approx(1.0)


def test_story_model_captions_single_images_with_its_first_sentence(
    fakes, eval_world, tmp_path, scored_with_fake
):
    # The trainer's convention: one image repeated to a story of 5, first sentence kept.
    _run(fakes, eval_world, tmp_path, "story", eval_split="val")
    predictions, _, _ = scored_with_fake[0]
    assert predictions["p2"] == eval_world["sentences"][2]
    assert sorted(predictions) == [f"p{i}" for i in range(6)]


def test_caption_model_on_sis_split_joins_per_photo_captions(
    fakes, eval_world, tmp_path, scored_with_fake
):
    _run(fakes, eval_world, tmp_path, "good", eval_split="test", profile="vist-album")
    predictions, references, _ = scored_with_fake[0]
    # vist-album (AREL): every story is an item, scored against all stories of its album.
    assert sorted(predictions) == ["s0", "s1", "s2"]
    assert predictions["s2"] == " ".join(f"a photo of thing {i}" for i in range(5, 10))
    assert predictions["s1"] == predictions["s0"]  # same photos, same captions
    assert len(references["s0"]) == 2 and len(references["s2"]) == 1


def test_max_examples_limits_the_items_decoded(fakes, eval_world, tmp_path, scored_with_fake):
    _, _, metrics = _run(fakes, eval_world, tmp_path, "good", max_examples=2)
    assert metrics["items"] == 2
    assert sorted(scored_with_fake[0][0]) == ["p0", "p1"]


def test_missing_split_names_the_split(fakes, eval_world, tmp_path, scored_with_fake):
    from vistflow.errors import VistflowError

    with pytest.raises(VistflowError, match="no split 'train'"):
        _run(fakes, eval_world, tmp_path, "good", eval_split="train")


@pytest.fixture(scope="module")
def validator_outputs(tmp_path_factory):
    """ExampleValidator's executor on TFDV statistics: {"clean"|"mismatch": anomalies artifact}.

    The statistics of `global_dim` values [128, 128] and [1280, 128] against a schema that
    allows only 128, as features of another backbone would give.
    """
    import pandas as pd
    import tensorflow_data_validation as tfdv
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.components.example_validator import executor as ev
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import io_utils

    root = tmp_path_factory.mktemp("validator")
    schema = standard_artifacts.Schema()
    schema.uri = str(root / "schema")
    io_utils.write_pbtxt_file(
        str(root / "schema" / "schema.pbtxt"),
        text_format.Parse(
            'feature { name: "global_dim" type: INT int_domain { min: 128 max: 128 } '
            "presence { min_fraction: 1.0 } }",
            schema_pb2.Schema(),
        ),
    )
    out = {}
    for name, dims in (("clean", [128, 128]), ("mismatch", [1280, 128])):
        stats = standard_artifacts.ExampleStatistics()
        stats.uri = str(root / name / "statistics")
        stats.split_names = artifact_utils.encode_split_names(["train", "val"])
        for split in ("train", "val"):
            (root / name / "statistics" / f"Split-{split}").mkdir(parents=True)
            (root / name / "statistics" / f"Split-{split}" / "FeatureStats.pb").write_bytes(
                tfdv.generate_statistics_from_dataframe(
                    pd.DataFrame({"global_dim": dims})
                ).SerializeToString()
            )
        anomalies = standard_artifacts.ExampleAnomalies()
        anomalies.uri = str(root / name / "anomalies")
        ev.Executor().Do(
            {"statistics": [stats], "schema": [schema]}, {"anomalies": [anomalies]}, {}
        )
        out[name] = anomalies
    return out


def test_anomalies_mean_no_blessing_and_no_decoding(
    fakes, eval_world, tmp_path, scored_with_fake, validator_outputs
):
    anomalies = validator_outputs["mismatch"]
    blessing, reasons, metrics = _run(
        fakes, eval_world, tmp_path, "good", anomalies=anomalies, thresholds='{"CIDEr": 0.1}'
    )
    assert _marker(tmp_path) == "NOT_BLESSED"
    assert blessing.get_int_custom_property("blessed") == 0
    assert scored_with_fake == []  # the model was not decoded or scored
    assert reasons["blessed"] is False and reasons["evaluated"] is False
    assert sorted(reasons["anomalies"]) == ["train", "val"]
    assert reasons["anomalies"]["val"] == [
        "global_dim: Out-of-range values (Unexpectedly large value: 1280.)"
    ]
    assert [(c["name"], c["passed"]) for c in reasons["checks"]] == [("anomalies", False)] * 2
    message = blessing.get_string_custom_property("blessing_message")
    assert "split 'val' failed validation: global_dim: Out-of-range values" in message
    assert json.loads(blessing.get_string_custom_property("anomalies")) == reasons["anomalies"]
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert metrics["items"] == 0 and metrics["candidate"] is None
    html = (tmp_path / "report.html").read_text()
    assert "NOT BLESSED" in html and "Unexpectedly large value: 1280." in html
    assert not (tmp_path / "predictions.jsonl").exists()


def test_clean_validation_leaves_the_decision_to_the_metrics(
    fakes, eval_world, tmp_path, scored_with_fake, validator_outputs
):
    blessing, reasons, _ = _run(
        fakes, eval_world, tmp_path, "good", anomalies=validator_outputs["clean"]
    )
    assert _marker(tmp_path) == "BLESSED"
    assert reasons["checks"] == [] and len(scored_with_fake) == 1


def test_component_validates_config_when_the_pipeline_is_built(fakes):
    from tfx import v1 as tfx

    examples = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples)
    model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    with pytest.raises(ValueError, match="'BLEU4': not a metric"):
        CaptionEvaluator(examples=examples, model=model, thresholds={"BLEU4": 0.1})
    with pytest.raises(ValueError, match="tolerance"):
        CaptionEvaluator(examples=examples, model=model, tolerance=-1)
    evaluator = CaptionEvaluator(
        examples=examples, model=model, thresholds={"Bleu_4": 0.05}, eval_split="test"
    )
    assert json.loads(evaluator.exec_properties["thresholds"]) == {"Bleu_4": 0.05}
    assert evaluator.exec_properties["eval_split"] == "test"
    assert evaluator.outputs["blessing"].type is tfx.types.standard_artifacts.ModelBlessing
    assert component.CaptionEvaluatorSpec.INPUTS["baseline_model"].optional
    assert component.CaptionEvaluatorSpec.INPUTS["anomalies"].optional
    assert "anomalies" not in evaluator.inputs
    gated = CaptionEvaluator(
        examples=examples,
        model=model,
        anomalies=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ExampleAnomalies),
    )
    assert gated.inputs["anomalies"].type is tfx.types.standard_artifacts.ExampleAnomalies


def test_latest_blessed_model_becomes_the_baseline(fakes, eval_world, tmp_path, scored_with_fake):
    """Three pipeline runs sharing one MLMD, wired like the stock Evaluator's examples.

    Run 1 (good, no blessed model yet): thresholds only -> blessed. Run 2 (bad): the resolver
    gives run 1's model as baseline -> not blessed. Run 3 (half): the baseline is still run 1's
    model (run 2's was not blessed) -> not blessed with zero tolerance. A Pusher built by
    create_pusher follows the evaluator and publishes only run 1's model.
    """
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from components.atomic_pusher.component import create_pusher

    db = tmp_path / "metadata.sqlite"
    serving = tmp_path / "serving"

    def run(model_key: str) -> None:
        examples = tfx.dsl.Importer(
            source_uri=eval_world["examples"],
            artifact_type=tfx.types.standard_artifacts.Examples,
            properties={"split_names": '["val", "test"]'},
        ).with_id("examples_importer")
        model = tfx.dsl.Importer(
            source_uri=eval_world[model_key], artifact_type=tfx.types.standard_artifacts.Model
        ).with_id("model_importer")
        resolver = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        ).with_id("latest_blessed_model_resolver")
        evaluator = CaptionEvaluator(
            examples=examples.outputs["result"],
            model=model.outputs["result"],
            baseline_model=resolver.outputs["model"],
            thresholds={"CIDEr": 0.2},
            meteor="none",
            report_samples=1,
        )
        pusher = create_pusher(
            model.outputs["result"], evaluator.outputs["blessing"], str(serving), "captioner"
        )
        pipeline = tfx.dsl.Pipeline(
            pipeline_name="eval_resolver",
            pipeline_root=str(tmp_path / "root"),
            components=[examples, model, resolver, evaluator, pusher],
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(db)
            ),
        )
        tfx.orchestration.LocalDagRunner().run(pipeline)

    for key in ("good", "bad", "half"):
        run(key)

    config = metadata.sqlite_metadata_connection_config(str(db))
    with metadata.Metadata(config) as m:
        models = {a.id: a.uri for a in m.store.get_artifacts_by_type("Model")}
        blessings = sorted(m.store.get_artifacts_by_type("ModelBlessing"), key=lambda a: a.id)
    assert len(blessings) == 3
    props = [
        {k: getattr(v, v.WhichOneof("value")) for k, v in b.custom_properties.items()}
        for b in blessings
    ]
    assert [p["blessed"] for p in props] == [1, 0, 0]
    assert "baseline_model" not in props[0]
    assert [models[p["current_model_id"]] for p in props] == [
        eval_world[k] for k in ("good", "bad", "half")
    ]
    assert props[1]["baseline_model"] == eval_world["good"]
    assert props[2]["baseline_model"] == eval_world["good"]  # run 2's model was not blessed
    assert os.path.exists(os.path.join(blessings[1].uri, "NOT_BLESSED"))
    # The stock Pusher with the atomic executor pushed only the blessed model, as version 1.
    assert sorted(os.listdir(serving / "captioner")) == ["1"]
    provenance = json.loads(
        (serving / "captioner/1/assets.extra/vistflow_publish.json").read_text()
    )
    assert provenance["source"] == os.path.realpath(
        os.path.join(eval_world["good"], "Format-Serving")
    )


def test_real_scoring_library_blesses_good_and_rejects_bad(fakes, eval_world, tmp_path):
    """With components.caption_evaluator.scoring (coco profile, PTB tokens, no METEOR JVM)."""
    blessing, reasons, metrics = _run(
        fakes,
        eval_world,
        tmp_path / "good",
        "good",
        thresholds=json.dumps({"Bleu_4": 0.9, "CIDEr": 0.5}),
    )
    assert blessing.get_int_custom_property("blessed") == 1
    cand = metrics["candidate"]
    assert cand["metrics"]["Bleu_4"] == pytest.approx(1.0)  # every caption is a reference
    assert cand["metrics"]["CIDEr"] > 1.0
    assert cand["signature"].startswith("profile:coco|tok:ptb|refs:2|")
    assert "meteor:none" in cand["signature"]

    blessing, reasons, metrics = _run(
        fakes, eval_world, tmp_path / "bad", "bad", baseline="good", tolerance=0.5
    )
    assert blessing.get_int_custom_property("blessed") == 0
    assert metrics["candidate"]["metrics"]["CIDEr"] == pytest.approx(0.0)
    assert metrics["baseline"]["metrics"]["CIDEr"] > 1.0
    html = (tmp_path / "bad" / "report.html").read_text()
    assert "candidate CIDEr 0.0000 · baseline CIDEr" in html  # per-item scores from the library


def test_real_scoring_of_stories_follows_the_vist_challenge_protocol(fakes, eval_world, tmp_path):
    _, _, metrics = _run(
        fakes, eval_world, tmp_path, "story", eval_split="test", profile="vist-challenge"
    )
    # One story per photo sequence (s0 for album a0's sequence, s2 for a1's).
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["s0", "s2"]
    assert len(rows[0]["references"]) == 2
    assert metrics["items"] == 2
    assert (
        "profile:vist-challenge|tok:space|refs:photo-sequence:1-2"
        in (metrics["candidate"]["signature"])
    )
    assert metrics["candidate"]["metrics"]["Bleu_1"] == pytest.approx(1.0)


def _run_with_holdout(fakes, eval_world, out_dir, candidate, baseline, **props):
    holdout = fakes.examples_artifact(eval_world["examples"])
    holdout.span = 20261005
    inputs = {
        "examples": [fakes.examples_artifact(eval_world["examples"])],
        "model": [fakes.model_artifact(eval_world[candidate], artifact_id=11)],
        "baseline_model": [fakes.model_artifact(eval_world[baseline], artifact_id=7)],
        "holdout_examples": [holdout],
    }
    blessing = fakes.blessing_artifact(out_dir)
    executor.Executor().Do(inputs, {"blessing": [blessing]}, _props(holdout_split="val", **props))
    reasons = json.loads((out_dir / "reasons.json").read_text())
    metrics = json.loads((out_dir / "metrics.json").read_text())
    return blessing, reasons, metrics


def test_holdout_scores_both_models_and_is_reported(fakes, eval_world, tmp_path, scored_with_fake):
    blessing, reasons, metrics = _run_with_holdout(fakes, eval_world, tmp_path, "good", "half")
    assert blessing.get_int_custom_property("blessed") == 1
    assert [(c["name"], c["passed"]) for c in reasons["checks"]] == [
        ("baseline", True),
        ("holdout_baseline", True),
    ]
    held = metrics["holdout"]
    assert held["span"] == 20261005 and held["split"] == "val" and held["items"] == 6
    assert held["candidate"]["CIDEr"] == pytest.approx(1.0)
    assert held["baseline"]["CIDEr"] == pytest.approx(0.5)
    assert blessing.get_int_custom_property("holdout_span") == 20261005
    assert blessing.get_float_custom_property("holdout_CIDEr") == pytest.approx(1.0)
    assert len(scored_with_fake) == 4  # candidate and baseline, on val and on the holdout
    html = (tmp_path / "report.html").read_text()
    assert "span 20261005, split val (6 items)" in html
    assert "holdout CIDEr candidate" in html and "1.0000" in html and "0.5000" in html


def test_candidate_worse_on_the_holdout_is_not_blessed(
    fakes, eval_world, tmp_path, scored_with_fake
):
    blessing, reasons, _ = _run_with_holdout(
        fakes, eval_world, tmp_path, "half", "good", tolerance=0.2
    )
    assert blessing.get_int_custom_property("blessed") == 0
    held = reasons["checks"][-1]
    assert held["name"] == "holdout_baseline" and held["passed"] is False
    assert held["detail"].startswith("holdout (span 20261005, val): CIDEr 0.5000 vs baseline")


def test_holdout_check_alone_can_refuse():
    """Fine on this week's split, worse on the fixed holdout: the holdout check fails."""
    from components.caption_evaluator.holdout import HoldoutResult

    result = HoldoutResult(
        uri="/h",
        span=3,
        split="test",
        items=5,
        candidate={"CIDEr": 0.2},
        baseline={"CIDEr": 0.9},
        signature="s",
    )
    (check,) = result.checks("CIDEr", tolerance=0.1)
    assert check.name == "holdout_baseline" and check.passed is False
    assert check.threshold == pytest.approx(0.8)
    within = HoldoutResult(**{**result.to_json(), "candidate": {"CIDEr": 0.85}})
    assert within.checks("CIDEr", tolerance=0.1)[0].passed is True
    assert HoldoutResult(**{**result.to_json(), "baseline": None}).checks("CIDEr", 0.1) == []


def test_component_takes_a_holdout(fakes):
    from tfx import v1 as tfx

    examples = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples)
    model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    evaluator = CaptionEvaluator(
        examples=examples, model=model, holdout_examples=examples, holdout_split="test"
    )
    assert evaluator.exec_properties["holdout_split"] == "test"
    assert evaluator.inputs["holdout_examples"].type is tfx.types.standard_artifacts.Examples
    assert component.CaptionEvaluatorSpec.INPUTS["holdout_examples"].optional
