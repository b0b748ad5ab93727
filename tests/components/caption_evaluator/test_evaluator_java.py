"""The executor's default METEOR, the METEOR 1.5 jar on a JVM, as the pipeline runs it.

The other executor tests use meteor="none" (or a fake scorer) to stay fast; these run the real
default once for captions (coco: `-l en -norm`, all references) and once for stories
(vist-challenge: `hter`, best single reference), candidate and baseline sharing one JVM, and
check each METEOR value against the scoring module's own java METEOR on the same predictions.
"""

from __future__ import annotations

import json

import pytest

from components.caption_evaluator import executor
from components.caption_evaluator.scoring import MeteorJava, get_profile, score


def _run(fakes, eval_world, out_dir, candidate, baseline=None, **props):
    inputs = {
        "examples": [fakes.examples_artifact(eval_world["examples"])],
        "model": [fakes.model_artifact(eval_world[candidate], artifact_id=11)],
    }
    if baseline:
        inputs["baseline_model"] = [fakes.model_artifact(eval_world[baseline], artifact_id=7)]
    blessing = fakes.blessing_artifact(out_dir)
    defaults = executor.EvalConfig()
    exec_properties = {
        executor.EVAL_SPLIT_KEY: "val",
        executor.PROFILE_KEY: "coco",
        executor.GATE_METRIC_KEY: "CIDEr",
        executor.THRESHOLDS_KEY: "{}",
        executor.TOLERANCE_KEY: 0.0,
        executor.MAX_EXAMPLES_KEY: 0,
        executor.BATCH_SIZE_KEY: 4,
        executor.SIGNATURE_KEY: "from_features",
        executor.REPORT_SAMPLES_KEY: 2,
        **props,
    }
    # METEOR is left unset: the executor's default must be the jar.
    assert defaults.meteor == "java" and executor.METEOR_KEY not in exec_properties
    executor.Executor().Do(inputs, {"blessing": [blessing]}, exec_properties)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out_dir / "predictions.jsonl").read_text().splitlines()]
    return blessing, metrics, rows


def test_default_java_meteor_on_captions_equals_the_scoring_module(fakes, eval_world, tmp_path):
    blessing, metrics, rows = _run(
        fakes,
        eval_world,
        tmp_path,
        "half",
        baseline="good",
        thresholds=json.dumps({"METEOR": 0.2}),
        gate_metric="METEOR",
        tolerance=0.6,
    )
    references = {r["id"]: r["references"] for r in rows}
    assert len(rows) == 6
    with MeteorJava(get_profile("coco").meteor_options) as jvm:  # our own JVM, one for both
        for role in ("candidate", "baseline"):
            predictions = {r["id"]: r[role] for r in rows}
            expected = score(predictions, references, profile="coco", meteor_scorer=jvm)
            got = metrics[role]["metrics"]["METEOR"]
            assert got == pytest.approx(expected.metrics["METEOR"], abs=1e-9), role
            assert metrics[role]["signature"] == expected.signature
            assert "|meteor:1.5-en-norm|" in expected.signature
    # "half" returns the reference for 3 of 6 photos and "zzz qqq" for the rest; "good" all 6.
    cand, base = (metrics[k]["metrics"]["METEOR"] for k in ("candidate", "baseline"))
    assert 0.3 < cand < 0.6 < 0.9 < base <= 1.0
    # METEOR from the jar gates the blessing: the threshold and the comparison with the baseline.
    reasons = json.loads((tmp_path / "reasons.json").read_text())
    checks = {c["name"]: c for c in reasons["checks"] if c["metric"] == "METEOR"}
    assert checks["threshold"]["passed"] is True and checks["threshold"]["value"] == cand
    assert checks["baseline"]["passed"] is True  # within the 0.6 tolerance
    assert blessing.get_int_custom_property("blessed") == 1


def test_default_java_meteor_on_stories_uses_the_challenge_options(fakes, eval_world, tmp_path):
    _, metrics, rows = _run(
        fakes, eval_world, tmp_path, "story", eval_split="test", profile="vist-challenge"
    )
    assert [r["id"] for r in rows] == ["s0", "s2"]
    predictions = {r["id"]: r["candidate"] for r in rows}
    references = {r["id"]: r["references"] for r in rows}
    expected = score(predictions, references, profile="vist-challenge", meteor="java")
    got = metrics["candidate"]["metrics"]["METEOR"]
    assert got == pytest.approx(expected.metrics["METEOR"], abs=1e-9)
    assert (
        metrics["candidate"]["signature"].split("|refs:")[0]
        == expected.signature.split("|refs:")[0]
    )
    assert "hter" in expected.signature
    # s0 matches one of its two references exactly: best single reference gives ~1; s2 too.
    assert got > 0.9
