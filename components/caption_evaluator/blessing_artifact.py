"""The `blessing` output as the stock Evaluator writes it, and the refusal on anomalous data.

A ModelBlessing carries a BLESSED/NOT_BLESSED marker file and the int custom property `blessed`
(what the Pusher and LatestBlessedModelStrategy read), plus the candidate and baseline models.
When ExampleValidator found anomalies, the candidate is not decoded at all (broken features may
not even decode): the blessing says NOT_BLESSED, and reasons.json / report.html name the
anomalies per split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.components.evaluator import constants
from tfx.utils import io_utils

from components.caption_evaluator import report
from components.caption_evaluator.blessing import Check

REASONS_FILE = "reasons.json"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
ANOMALIES_PROPERTY = "anomalies"  # JSON {split: [problem, ...]} when the data gate refused


def mark(
    blessing: types.Artifact,
    *,
    blessed: bool,
    checks: list[Check],
    model: types.Artifact,
    baseline: types.Artifact | None,
    exec_properties: Mapping[str, Any],
) -> None:
    """Writes the marker file and sets the custom properties the stock Evaluator sets."""
    marker = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    io_utils.write_string_file(os.path.join(blessing.uri, marker), "")
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSED_KEY,
        constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE,
    )
    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri
    )
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    if baseline is not None:
        blessing.set_string_custom_property(
            constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri
        )
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id
        )
    if "current_component_id" in exec_properties:
        blessing.set_string_custom_property("component_id", exec_properties["current_component_id"])
    failed = [c.detail for c in checks if not c.passed]
    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY,
        "all checks passed" if not failed else "; ".join(failed),
    )


def anomaly_checks(found: Mapping[str, list[str]]) -> list[Check]:
    """One failed `anomalies` check per split with anomalies."""
    return [
        Check(
            "anomalies",
            f"split {split}",
            None,
            None,
            False,
            f"split {split!r} failed validation: {'; '.join(problems)}",
        )
        for split, problems in sorted(found.items())
    ]


def refuse_on_anomalies(
    blessing: types.Artifact,
    found: Mapping[str, list[str]],
    *,
    eval_split: str,
    gate_metric: str,
    model: types.Artifact,
    baseline: types.Artifact | None,
    exec_properties: Mapping[str, Any],
) -> list[Check]:
    """Writes a NOT_BLESSED blessing naming the anomalies; the model is not evaluated."""
    checks = anomaly_checks(found)
    io_utils.write_string_file(
        os.path.join(blessing.uri, REASONS_FILE),
        json.dumps(
            {
                "blessed": False,
                "evaluated": False,
                "anomalies": dict(found),
                "has_baseline": baseline is not None,
                "checks": [c.to_json() for c in checks],
            },
            indent=2,
        ),
    )
    io_utils.write_string_file(
        os.path.join(blessing.uri, METRICS_FILE),
        json.dumps(
            {"eval_split": eval_split, "items": 0, "candidate": None, "baseline": None}, indent=2
        ),
    )
    html = report.render_report(
        blessed=False,
        checks=checks,
        candidate=report.ModelSummary("candidate", model.uri, {}, "not evaluated"),
        baseline=None,
        gate_metric=gate_metric,
        samples=[],
        context={
            "eval split": eval_split,
            "not evaluated": "ExampleValidator found anomalies in the examples",
        },
    )
    report.write_report(os.path.join(blessing.uri, REPORT_FILE), html)
    mark(
        blessing,
        blessed=False,
        checks=checks,
        model=model,
        baseline=baseline,
        exec_properties=exec_properties,
    )
    blessing.set_string_custom_property(ANOMALIES_PROPERTY, json.dumps(dict(found), sort_keys=True))
    blessing.set_string_custom_property("eval_split", eval_split)
    blessing.set_int_custom_property("eval_items", 0)
    return checks
