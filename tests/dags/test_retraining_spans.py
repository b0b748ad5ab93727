"""Scheduled retraining over spans, with the real Airflow (`airflow dags test`, SQLite, temp home).

Three weekly partitions, each ingested once as its own span (the logical date as YYYYMMDD):
week 3's model learns from the train stories of all three weeks (counted by the Trainer),
warm-starts from week 2's blessed model and is compared with it on week 3's val split and on
the fixed holdout (week 1's test split), within the tolerance that absorbs noise between honest
weeks. (A week of nonsense captions refused by the holdout check is test_dags_run.py's
`test_degraded_model_is_not_pushed`; the tolerance's limit is the evaluator's unit tests'.)
Re-running week 2 afterwards
resolves the same window and base model: cached executions, no new model, no new version.
The lineage query answers which spans and which base model each pushed model came from.
Tiny backbone, few steps: the point is the wiring, not the scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_testing import REPO  # noqa: F401 - the repo on sys.path for the DAG runs
from test_dags_run import dags_test, run_summary, task_states, versions

W1, W2, W3 = "2026-10-05", "2026-10-12", "2026-10-19"
SPANS = {ds: int(ds.replace("-", "")) for ds in (W1, W2, W3)}
TRAINER = {
    "model": "show_attend_tell",
    "epochs": 2,
    "hidden_dim": 16,
    "embedding_dim": 16,
    "attention_dim": 16,
    "min_count": 1,
    "batch_size": 8,
    "learning_rate": 0.01,
    "decoding": {"method": "greedy", "max_length": 10},
}
# Noise between two honest weekly models is absorbed; a model of nonsense words (Bleu_1 ~0 on
# the holdout) is not.
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def vhome(tmp_path_factory) -> Path:
    from vistflow.synth import generate

    home = tmp_path_factory.mktemp("vistflow_spans")
    for i, ds in enumerate((W1, W2, W3)):
        part = home / "landing" / ds
        generate(part, stories=16, seed=20 + i, fault_rate=0.0)
        (part / "_SUCCESS").write_text("")
    (home / "pipeline_config.json").write_text(
        json.dumps(
            {
                "trainer_config": TRAINER,
                "train_steps": 24,
                "eval_steps": 3,
                "evaluator_config": {
                    "meteor": "none",
                    "gate_metric": "Bleu_1",
                    "tolerance": TOLERANCE,
                    "report_samples": 1,
                },
            }
        )
    )
    return home


@pytest.fixture(scope="module")
def weeks(airflow_home, vhome) -> dict[str, dict]:
    """The three weekly runs, in order; their stage summaries."""
    for ds in (W1, W2, W3):
        log = dags_test(airflow_home, vhome, "vist_retraining", ds)
        states = task_states(log)
        assert set(states.values()) == {"SUCCESS"}, (ds, states)
    return {ds: run_summary(vhome, ds) for ds in (W1, W2, W3)}


def train_stories(summary: dict) -> int:
    (report_uri,) = summary["ingest"]["outputs"]["VistExampleGen.report"]
    return json.loads(Path(report_uri, "report.json").read_text())["train"]["accepted"]


def model_uri(summary: dict) -> str:
    (uri,) = summary["train"]["outputs"]["Trainer.model"]
    return uri


def test_each_partition_is_ingested_once_as_its_span(vhome, weeks):
    from pipelines.lineage import _store, _value

    store = _store(str(vhome / "pipeline" / "metadata.sqlite"))
    for ds, summary in weeks.items():
        (uri,) = summary["features"]["outputs"]["FeatureExtractor.examples"]
        (examples,) = [a for a in store.get_artifacts_by_uri(uri)]
        assert _value(examples, "span") == SPANS[ds]
        (gen_uri,) = summary["ingest"]["outputs"]["VistExampleGen.examples"]
        (gen,) = store.get_artifacts_by_uri(gen_uri)
        assert _value(gen, "span") == SPANS[ds]
    # One ingest per partition: three VistExampleGen Examples for three weeks.
    gen_examples = [
        a for a in store.get_artifacts_by_type("Examples") if "/VistExampleGen/" in a.uri
    ]
    assert sorted(_value(a, "span") for a in gen_examples) == [SPANS[W1], SPANS[W2], SPANS[W3]]


def test_week_three_learns_from_all_weeks_warm_started_from_week_two(vhome, weeks):
    expected = {str(SPANS[ds]): train_stories(weeks[ds]) for ds in (W1, W2, W3)}
    assert all(n > 0 for n in expected.values())
    (run_dir,) = weeks[W3]["train"]["outputs"]["Trainer.model_run"]
    data = json.loads(Path(run_dir, "training_data.json").read_text())
    assert data["stories_per_span"] == expected
    assert data["train_stories"] == sum(expected.values())
    assert data["base_model"] == model_uri(weeks[W2])
    assert data["warm_start_from"].startswith(model_uri(weeks[W2]))
    # Week 1 had nothing to start from and only its own span.
    (run_dir,) = weeks[W1]["train"]["outputs"]["Trainer.model_run"]
    first = json.loads(Path(run_dir, "training_data.json").read_text())
    assert first["spans"] == [SPANS[W1]] and first["base_model"] == ""
    # On the Model in ML Metadata too.
    props = weeks[W3]["train"]["model"]
    assert json.loads(props["train_spans"]) == [SPANS[W1], SPANS[W2], SPANS[W3]]
    assert props["train_stories"] == sum(expected.values())
    assert versions(vhome) == ["1", "2", "3"]


def test_week_three_is_compared_on_its_val_split_and_the_fixed_holdout(weeks):
    blessing = weeks[W3]["evaluate"]["blessing_uri"]
    metrics = json.loads(Path(blessing, "metrics.json").read_text())
    assert metrics["eval_split"] == "val"
    assert metrics["baseline"]["uri"] == model_uri(weeks[W2])
    held = metrics["holdout"]
    assert held["span"] == SPANS[W1] and held["split"] == "test" and held["items"] > 0
    assert set(held["candidate"]) >= {"Bleu_1"} and set(held["baseline"]) >= {"Bleu_1"}
    week1_holdout = json.loads(
        Path(weeks[W1]["evaluate"]["blessing_uri"], "metrics.json").read_text()
    )["holdout"]
    assert week1_holdout["uri"] == held["uri"]  # the same Examples artifact every week
    checks = json.loads(Path(blessing, "reasons.json").read_text())["checks"]
    assert [c["name"] for c in checks] == ["baseline", "holdout_baseline"]
    assert all(c["passed"] for c in checks)
    html = Path(blessing, "report.html").read_text()
    assert "holdout Bleu_1 candidate" in html and f"span {SPANS[W1]}, split test" in html


def test_rerunning_week_two_changes_nothing(airflow_home, vhome, weeks):
    models = vhome / "pipeline" / "Trainer" / "model"
    before = sorted(p.name for p in models.iterdir())
    log = dags_test(airflow_home, vhome, "vist_retraining", W2)
    assert set(task_states(log).values()) == {"SUCCESS"}
    assert sorted(p.name for p in models.iterdir()) == before  # cached Trainer execution
    assert versions(vhome) == ["1", "2", "3"]
    again = run_summary(vhome, W2)
    assert model_uri(again) == model_uri(weeks[W2])
    assert again["evaluate"]["blessing_uri"] == weeks[W2]["evaluate"]["blessing_uri"]


def test_pushed_model_lineage_names_spans_and_base_model(vhome, weeks):
    from pipelines.lineage import pushed_model_lineage

    lineage = pushed_model_lineage(str(vhome / "pipeline" / "metadata.sqlite"))
    assert [x["version"] for x in lineage] == ["1", "2", "3"]
    first, second, third = lineage
    assert first["spans"] == [SPANS[W1]] and first["base_model_uri"] is None
    assert second["spans"] == [SPANS[W1], SPANS[W2]]
    assert second["base_model_uri"] == first["model_uri"] == model_uri(weeks[W1])
    assert third["spans"] == [SPANS[W1], SPANS[W2], SPANS[W3]]
    assert third["base_model_uri"] == second["model_uri"] == model_uri(weeks[W2])
    assert third["model_uri"] == model_uri(weeks[W3])
    assert third["destination"].endswith("/vist_captioner/3")


def test_the_concepts_task_trains_once_and_later_spans_reuse_its_backbone(vhome, weeks):
    """Week 1's concept backbone is every week's, so a window mixes features of one network."""
    models = {ds: weeks[ds]["concepts"]["outputs"]["ConceptPretrainer.model"][0] for ds in weeks}
    props = {ds: weeks[ds]["concepts"]["concepts"] for ds in weeks}
    first = json.loads(Path(models[W1], "concepts.json").read_text())
    assert first["num_concepts"] > 0 and "reused_from" not in props[W1]
    assert props[W1]["val_f1"] == first["val"]["f1"]
    assert Path(models[W1], "report.html").is_file()
    # Each week reuses the latest earlier concept model: week 1's, then week 2's copy of it.
    assert props[W2]["reused_from"] == models[W1]
    assert props[W3]["reused_from"] == models[W2]
    digests = set()
    for ds, summary in weeks.items():
        (uri,) = summary["features"]["outputs"]["FeatureExtractor.examples"]
        meta = json.loads(Path(uri, "backbone", "backbone.json").read_text())
        assert meta["weights"]["origin"]["weights"] == "concept-pretrained", ds
        digests.add(meta["weights"]["sha256"])
    assert len(digests) == 1  # one network for the three weeks' features
