"""CaptionEvaluator executor: decode, score candidate and baseline, decide the blessing, report.

Outputs in the `blessing` artifact's directory:
  BLESSED or NOT_BLESSED  empty marker file, as the stock Evaluator writes
  reasons.json            every check: metric, value, bound, pass/fail
  metrics.json            candidate (+ baseline) corpus metrics with their scoring signature
  predictions.jsonl       per item: candidate (+ baseline) text and the references
  report.html             self-contained HTML report
Custom properties: `blessed` (1/0, what the Pusher and LatestBlessedModelStrategy read),
`current_model(_id)`, `baseline_model(_id)` like the stock Evaluator, and the candidate's metrics.
With an `anomalies` input (ExampleValidator's) that holds any anomaly, nothing is decoded: the
blessing is NOT_BLESSED and names the anomalies (see blessing_artifact.refuse_on_anomalies).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils

from components.caption_evaluator import anomalies as anomaly_reader
from components.caption_evaluator import blessing as blessing_rules
from components.caption_evaluator import blessing_artifact, decoding, holdout, report_page
from components.caption_evaluator.blessing_artifact import METRICS_FILE, REASONS_FILE
from components.caption_evaluator.report_page import choose_samples  # noqa: F401 - public here
from vistflow import example_files
from vistflow.errors import VistflowError

logger = logging.getLogger(__name__)

# Execution property names (shared with component.py).
EVAL_SPLIT_KEY = "eval_split"
PROFILE_KEY = "profile"
GATE_METRIC_KEY = "gate_metric"
THRESHOLDS_KEY = "thresholds"  # JSON object {metric: lower bound}
TOLERANCE_KEY = "tolerance"
MAX_EXAMPLES_KEY = "max_examples"
METEOR_KEY = "meteor"
BATCH_SIZE_KEY = "batch_size"
SIGNATURE_KEY = "signature_name"
REPORT_SAMPLES_KEY = "report_samples"
HOLDOUT_SPLIT_KEY = holdout.HOLDOUT_SPLIT_KEY

PROFILES = ("coco", "vist-challenge", "vist-album")
METEOR_MODES = ("java", "nltk", "none")

PREDICTIONS_FILE = "predictions.jsonl"
SIGNATURE_PROPERTY = "metric_signature"


@dataclass(frozen=True)
class EvalConfig:
    """The execution properties, validated."""

    eval_split: str = "val"
    profile: str = "coco"
    gate_metric: str = "CIDEr"
    thresholds: Mapping[str, float] | None = None
    tolerance: float = 0.0
    max_examples: int = 0
    meteor: str = "java"
    batch_size: int = 32
    signature_name: str = "from_features"
    report_samples: int = 6
    holdout_split: str = "test"  # of the `holdout_examples` input, when there is one

    @classmethod
    def from_exec_properties(cls, props: Mapping[str, Any]) -> EvalConfig:
        def get(key: str, default):
            value = props.get(key)
            return default if value is None or value == "" else value

        raw = get(THRESHOLDS_KEY, "{}")
        try:
            thresholds = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except ValueError as e:
            raise VistflowError(f"exec property {THRESHOLDS_KEY}: not JSON ({e})") from e
        config = cls(
            eval_split=str(get(EVAL_SPLIT_KEY, cls.eval_split)),
            profile=str(get(PROFILE_KEY, cls.profile)),
            gate_metric=str(get(GATE_METRIC_KEY, cls.gate_metric)),
            thresholds=thresholds,
            tolerance=float(get(TOLERANCE_KEY, cls.tolerance)),
            max_examples=int(get(MAX_EXAMPLES_KEY, cls.max_examples)),
            meteor=str(get(METEOR_KEY, cls.meteor)),
            batch_size=int(get(BATCH_SIZE_KEY, cls.batch_size)),
            signature_name=str(get(SIGNATURE_KEY, cls.signature_name)),
            report_samples=int(get(REPORT_SAMPLES_KEY, cls.report_samples)),
            holdout_split=str(get(HOLDOUT_SPLIT_KEY, cls.holdout_split)),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError naming the first invalid setting."""
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r}: not one of {', '.join(PROFILES)}")
        if self.meteor not in METEOR_MODES:
            raise ValueError(f"meteor {self.meteor!r}: not one of {', '.join(METEOR_MODES)}")
        if self.max_examples < 0 or self.batch_size < 1 or self.report_samples < 0:
            raise ValueError("max_examples and report_samples must be >= 0, batch_size >= 1")
        blessing_rules.validate_config(self.thresholds or {}, self.gate_metric, self.tolerance)


@dataclass
class _Decoded:
    model: decoding.FeatureModel
    metas: list[decoding.ExampleMeta]
    predictions: dict[str, decoding.PhotoPrediction]


def _score(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    config: EvalConfig,
    *,
    stories: tuple[dict, dict] | None = None,
    meteor_scorer: Any = None,
):
    """Score with the scoring library. `stories` (albums, photo sequences): SIS under a VIST
    profile, where `score_stories` builds the protocol's references itself."""
    # Imported here: METEOR may start a JVM; keep module import cheap.
    from components.caption_evaluator.scoring import score, score_stories

    if stories is not None:
        albums, sequences = stories
        return score_stories(
            predictions,
            albums,
            profile=config.profile,
            meteor=config.meteor,
            photo_sequences=sequences,
            meteor_scorer=meteor_scorer,
        )
    return score(
        predictions,
        references,
        profile=config.profile,
        meteor=config.meteor,
        meteor_scorer=meteor_scorer,
    )


@contextlib.contextmanager
def _meteor_jvm(config: EvalConfig) -> Iterator[Any]:
    """One METEOR 1.5 JVM for the candidate and the baseline (it takes seconds to start)."""
    if config.meteor != "java":
        yield None
        return
    from components.caption_evaluator.scoring import MeteorJava, get_profile

    with MeteorJava(get_profile(config.profile).meteor_options) as jvm:
        yield jvm


def saved_model_path(model: types.Artifact) -> str:
    """The SavedModel directory of a Model artifact (`<uri>/Format-Serving` for TFX >= 0.26).

    Artifacts registered without a `tfx_version` (e.g. by an Importer) count as "old" for TFX's
    path_utils, which then looks in `serving_model_dir/`; fall back to the layouts that exist.
    """
    from tfx.dsl.io import fileio

    candidates = [
        path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model)),
        path_utils.serving_model_path(model.uri, False),
        model.uri,
    ]
    for path in candidates:
        if fileio.exists(os.path.join(path, "saved_model.pb")):
            return path
    raise VistflowError(f"{model.uri}: Model artifact holds no SavedModel (looked in {candidates})")


class Executor(base_executor.BaseExecutor):
    """Decodes the eval split with the candidate and the baseline model and blesses or not."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = EvalConfig.from_exec_properties(exec_properties)
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY]
        )
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        baselines = input_dict.get(standard_component_specs.BASELINE_MODEL_KEY) or []
        if len(baselines) > 1:
            raise ValueError(f"expected at most one baseline model, got {len(baselines)}")
        baseline = baselines[0] if baselines else None
        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY]
        )
        anomalies = input_dict.get(standard_component_specs.ANOMALIES_KEY) or []
        found = anomaly_reader.read_anomalies(a.uri for a in anomalies)
        if found:  # the data gate: no blessing for a model of anomalous examples
            for check in blessing_artifact.refuse_on_anomalies(
                blessing,
                found,
                eval_split=config.eval_split,
                gate_metric=config.gate_metric,
                model=model,
                baseline=baseline,
                exec_properties=exec_properties,
            ):
                logger.info("check FAILED: %s", check.detail)
            logger.info(
                "CaptionEvaluator: NOT BLESSED (anomalies, not evaluated) -> %s", blessing.uri
            )
            return

        split_names = artifact_utils.decode_split_names(examples.split_names or "[]")
        if split_names and config.eval_split not in split_names:
            raise VistflowError(
                f"{examples.uri}: no split {config.eval_split!r} (has {', '.join(split_names)})"
            )
        files = example_files.split_files(examples.uri, config.eval_split)

        candidate = self._decode(model, files, config)
        items = decoding.build_items(candidate.metas, config.profile)
        if not items:
            raise VistflowError(
                f"{examples.uri}: split {config.eval_split!r} has no item with reference text"
            )
        references = {item.item_id: list(item.references) for item in items}
        stories = None
        if config.profile != "coco" and all(m.task == "sis" for m in candidate.metas):
            stories = decoding.story_references(candidate.metas)

        base_decoded = None
        if baseline is not None and os.path.normpath(baseline.uri) != os.path.normpath(model.uri):
            base_decoded = self._decode(baseline, files, config)
        elif baseline is not None:
            base_decoded = candidate  # the candidate is the blessed model itself (a rerun)

        def texts(decoded: _Decoded) -> dict[str, str]:
            return {
                i.item_id: i.text(decoded.predictions, per_story=decoded.model.per_story)
                for i in items
            }

        with _meteor_jvm(config) as jvm:
            cand_text = texts(candidate)
            cand_result = _score(cand_text, references, config, stories=stories, meteor_scorer=jvm)
            base_text, base_result = None, None
            if base_decoded is candidate:
                base_text, base_result = cand_text, cand_result
            elif base_decoded is not None:
                base_text = texts(base_decoded)
                base_result = _score(
                    base_text, references, config, stories=stories, meteor_scorer=jvm
                )
            held = None
            for held_examples in input_dict.get(holdout.HOLDOUT_EXAMPLES_KEY) or []:
                held = holdout.evaluate(
                    held_examples,
                    config.holdout_split,
                    model,
                    baseline,
                    profile=config.profile,
                    decode=lambda m, f: self._decode(m, f, config),
                    score=lambda t, r, s: _score(t, r, config, stories=s, meteor_scorer=jvm),
                )

        cand_metrics = report_page.finite(cand_result.metrics)
        base_metrics = report_page.finite(base_result.metrics) if base_result is not None else None
        blessed, checks = blessing_rules.decide(
            cand_metrics,
            base_metrics,
            thresholds=blessing_rules.validate_config(
                config.thresholds or {}, config.gate_metric, config.tolerance
            ),
            gate_metric=config.gate_metric,
            tolerance=config.tolerance,
        )
        if held is not None:  # not worse than the baseline on the fixed holdout either
            checks += held.checks(config.gate_metric, config.tolerance)
            blessed = all(c.passed for c in checks)
        for check in checks:
            logger.info("check %s: %s", "passed" if check.passed else "FAILED", check.detail)

        self._write_outputs(
            blessing=blessing,
            blessed=blessed,
            checks=checks,
            config=config,
            model=model,
            baseline=baseline,
            items=items,
            candidate=candidate,
            cand_text=cand_text,
            cand_result=cand_result,
            base_decoded=base_decoded,
            base_text=base_text,
            base_result=base_result,
            held=held,
            exec_properties=exec_properties,
        )
        logger.info(
            "CaptionEvaluator: %s (%s %s=%.4f) -> %s",
            "BLESSED" if blessed else "NOT BLESSED",
            config.eval_split,
            config.gate_metric,
            cand_metrics.get(config.gate_metric, float("nan")),
            blessing.uri,
        )

    def _decode(self, model: types.Artifact, files: list[str], config: EvalConfig) -> _Decoded:
        path = saved_model_path(model)
        feature_model = decoding.FeatureModel(path, config.signature_name)
        metas, predictions = feature_model.decode(
            decoding.iter_examples(files, config.max_examples), config.batch_size
        )
        return _Decoded(feature_model, metas, predictions)

    def _write_outputs(
        self,
        *,
        blessing: types.Artifact,
        blessed: bool,
        checks: list[blessing_rules.Check],
        config: EvalConfig,
        model: types.Artifact,
        baseline: types.Artifact | None,
        items: list[decoding.EvalItem],
        candidate: _Decoded,
        cand_text: dict[str, str],
        cand_result: Any,
        base_decoded: _Decoded | None,
        base_text: dict[str, str] | None,
        base_result: Any,
        held: holdout.HoldoutResult | None,
        exec_properties: Mapping[str, Any],
    ) -> None:
        uri = blessing.uri
        cand_metrics = report_page.finite(cand_result.metrics)
        io_utils.write_string_file(
            os.path.join(uri, REASONS_FILE),
            json.dumps(
                {
                    "blessed": blessed,
                    "gate_metric": config.gate_metric,
                    "tolerance": config.tolerance,
                    "has_baseline": baseline is not None,
                    "checks": [c.to_json() for c in checks],
                },
                indent=2,
            ),
        )
        metrics_doc = {
            "eval_split": config.eval_split,
            "profile": config.profile,
            "meteor": config.meteor,
            "items": len(items),
            "candidate": {
                "uri": model.uri,
                "metrics": cand_metrics,
                "signature": str(cand_result.signature),
            },
            "baseline": None,
            "holdout": held.to_json() if held is not None else None,
        }
        if base_result is not None and baseline is not None:
            metrics_doc["baseline"] = {
                "uri": baseline.uri,
                "metrics": report_page.finite(base_result.metrics),
                "signature": str(base_result.signature),
            }
        io_utils.write_string_file(
            os.path.join(uri, METRICS_FILE), json.dumps(metrics_doc, indent=2)
        )
        lines = []
        for item in items:
            row = {"id": item.item_id, "candidate": cand_text[item.item_id]}
            if base_text is not None:
                row["baseline"] = base_text[item.item_id]
            row["references"] = list(item.references)
            lines.append(json.dumps(row, ensure_ascii=False))
        io_utils.write_string_file(os.path.join(uri, PREDICTIONS_FILE), "\n".join(lines) + "\n")

        report_page.write_report(
            uri,
            blessed,
            checks,
            config,
            model,
            baseline,
            items,
            candidate,
            cand_result,
            base_decoded,
            base_result,
            extra_context=held.context(config.gate_metric) if held is not None else None,
        )

        blessing_artifact.mark(
            blessing,
            blessed=blessed,
            checks=checks,
            model=model,
            baseline=baseline,
            exec_properties=exec_properties,
        )
        for name, value in cand_metrics.items():
            if not math.isnan(value):
                blessing.set_float_custom_property(name, value)
        blessing.set_string_custom_property(SIGNATURE_PROPERTY, str(cand_result.signature))
        blessing.set_string_custom_property("eval_split", config.eval_split)
        blessing.set_int_custom_property("eval_items", len(items))
        if held is not None:
            blessing.set_int_custom_property("holdout_span", held.span)
            blessing.set_string_custom_property("holdout_split", held.split)
            for name, value in held.candidate.items():
                if not math.isnan(value):
                    blessing.set_float_custom_property(f"holdout_{name}", value)
