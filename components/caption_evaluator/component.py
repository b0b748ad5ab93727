"""CaptionEvaluator: the Evaluator of captioning / storytelling models.

Wire it like the stock Evaluator, with the latest blessed model as baseline:

    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = CaptionEvaluator(
        examples=feature_extractor.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=resolver.outputs["model"],
        anomalies=example_validator.outputs["anomalies"],
        thresholds={"Bleu_4": 0.05},
    )
    pusher = create_pusher(trainer.outputs["model"], evaluator.outputs["blessing"], ...)
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.system_executions import Evaluate

from components.caption_evaluator import executor, holdout
from components.caption_evaluator.executor import EvalConfig


class CaptionEvaluatorSpec(types.ComponentSpec):
    """Inputs, outputs and execution properties of CaptionEvaluator."""

    PARAMETERS = {
        executor.EVAL_SPLIT_KEY: ExecutionParameter(type=str),
        executor.PROFILE_KEY: ExecutionParameter(type=str),
        executor.GATE_METRIC_KEY: ExecutionParameter(type=str),
        executor.THRESHOLDS_KEY: ExecutionParameter(type=str),  # JSON {metric: lower bound}
        executor.TOLERANCE_KEY: ExecutionParameter(type=float),
        executor.MAX_EXAMPLES_KEY: ExecutionParameter(type=int),
        executor.METEOR_KEY: ExecutionParameter(type=str),
        executor.BATCH_SIZE_KEY: ExecutionParameter(type=int),
        executor.SIGNATURE_KEY: ExecutionParameter(type=str),
        executor.REPORT_SAMPLES_KEY: ExecutionParameter(type=int),
        executor.HOLDOUT_SPLIT_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        standard_component_specs.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        standard_component_specs.BASELINE_MODEL_KEY: ChannelParameter(
            type=standard_artifacts.Model, optional=True
        ),
        # ExampleValidator's output: any anomaly means no blessing (the model is not scored).
        standard_component_specs.ANOMALIES_KEY: ChannelParameter(
            type=standard_artifacts.ExampleAnomalies, optional=True
        ),
        # A fixed holdout (e.g. the oldest span's Examples): candidate and baseline are scored
        # on its `holdout_split` too, and the candidate must not be worse there either.
        holdout.HOLDOUT_EXAMPLES_KEY: ChannelParameter(
            type=standard_artifacts.Examples, optional=True
        ),
    }
    OUTPUTS = {
        standard_component_specs.BLESSING_KEY: ChannelParameter(
            type=standard_artifacts.ModelBlessing
        ),
    }
    TYPE_ANNOTATION = Evaluate


class CaptionEvaluator(base_component.BaseComponent):
    """Scores a captioning/storytelling model on an eval split and blesses it (or not).

    Outputs `blessing` (ModelBlessing with the int custom property `blessed`, read by the
    Pusher and by LatestBlessedModelStrategy), holding BLESSED/NOT_BLESSED, reasons.json,
    metrics.json, predictions.jsonl and report.html. Never blesses when `anomalies` (from
    ExampleValidator) reports any: reasons.json and report.html then name them.
    """

    SPEC_CLASS = CaptionEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        baseline_model: types.BaseChannel | None = None,
        anomalies: types.BaseChannel | None = None,
        holdout_examples: types.BaseChannel | None = None,
        *,
        eval_split: str = "val",
        holdout_split: str = "test",
        profile: str = "coco",
        gate_metric: str = "CIDEr",
        thresholds: Mapping[str, float] | None = None,
        tolerance: float = 0.0,
        max_examples: int = 0,
        meteor: str = "java",
        batch_size: int = 32,
        signature_name: str = "from_features",
        report_samples: int = 6,
    ):
        """Construct a CaptionEvaluator.

        Args:
          examples: Examples with features (the feature extractor's output).
          model: the candidate Model (SavedModel under `Format-Serving/`).
          baseline_model: optional Model to compare with, usually the latest blessed one.
          anomalies: optional ExampleValidator output; when any split has anomalies the
            candidate is not blessed (so a single pipeline run never pushes on bad data).
          holdout_examples: optional Examples of a fixed holdout (the same from run to run);
            candidate and baseline are also scored on its `holdout_split`, and the candidate is
            not blessed when it is worse than the baseline there (beyond `tolerance`).
          eval_split: the split decoded and scored.
          holdout_split: the split of `holdout_examples` scored.
          profile: scoring protocol: "coco", "vist-challenge" or "vist-album".
          gate_metric: the metric compared with the baseline.
          thresholds: lower bounds on candidate metrics, e.g. {"Bleu_4": 0.05}.
          tolerance: how much lower than the baseline's the gate metric may be (absolute).
          max_examples: decode at most this many examples of the split (0 = all).
          meteor: METEOR implementation: "java" (METEOR 1.5), "nltk" or "none".
          batch_size: examples per call of the model.
          signature_name: the SavedModel signature that decodes stored features.
          report_samples: items shown in report.html.
        """
        config = EvalConfig(
            eval_split=eval_split,
            profile=profile,
            gate_metric=gate_metric,
            thresholds=dict(thresholds or {}),
            tolerance=float(tolerance),
            max_examples=int(max_examples),
            meteor=meteor,
            batch_size=int(batch_size),
            signature_name=signature_name,
            report_samples=int(report_samples),
            holdout_split=holdout_split,
        )
        config.validate()  # fail when the pipeline is built, not hours later in the run
        spec = CaptionEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            anomalies=anomalies,
            holdout_examples=holdout_examples,
            eval_split=config.eval_split,
            holdout_split=config.holdout_split,
            profile=config.profile,
            gate_metric=config.gate_metric,
            thresholds=json.dumps(config.thresholds, sort_keys=True),
            tolerance=config.tolerance,
            max_examples=config.max_examples,
            meteor=config.meteor,
            batch_size=config.batch_size,
            signature_name=config.signature_name,
            report_samples=config.report_samples,
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
