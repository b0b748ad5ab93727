"""Resolver strategies over spans: the training window, the fixed holdout, the base model.

A landed partition is one span of the FeatureExtractor's Examples (the standard `span` property,
set by VistExampleGen and carried over by the FeatureExtractor). Every strategy here is bounded
by the span of the run (`max_span`), so re-running an old partition resolves exactly what its
first run resolved: the same Trainer and evaluator inputs, cached executions, nothing new pushed.

The stock `SpanRangeStrategy` reads `span` as a custom property (ExampleGen sets the property),
keeps every version of a span, and its rolling range ends at the newest span in ML Metadata, not
at the run's; hence these.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.common import resolver

# The Model custom properties the Trainer sets (pipelines/trainer_executor.py).
MAX_SPAN_PROPERTY = "max_span"
SPANS_PROPERTY = "train_spans"


def span_of(artifact: types.Artifact) -> int:
    """The `span` property of an Examples artifact (0 when unset)."""
    try:
        return int(artifact.span or 0)
    except (AttributeError, ValueError):
        return 0


def select_spans(
    artifacts: list[types.Artifact], *, max_span: int, num_spans: int = 0, oldest: bool = False
) -> list[types.Artifact]:
    """The newest artifact of each span <= `max_span`, the latest `num_spans` spans (0 = all),
    or only the oldest span; newest span first."""
    newest: dict[int, types.Artifact] = {}
    for artifact in artifacts:
        span = span_of(artifact)
        if span <= max_span and (span not in newest or artifact.id > newest[span].id):
            newest[span] = artifact
    spans = sorted(newest, reverse=True)
    if oldest:
        spans = spans[-1:]
    elif num_spans > 0:
        spans = spans[:num_spans]
    return [newest[s] for s in spans]


class SpanWindowStrategy(resolver.ResolverStrategy):
    """Examples of the spans up to the run's: all, the latest `num_spans`, or only the oldest
    (`oldest=True`: the fixed holdout) or one pinned `span`. Only Examples holding every split
    in `splits` count (a partition landed without a train split is no training data)."""

    def __init__(
        self,
        max_span: int,
        num_spans: int = 0,
        oldest: bool = False,
        span: int = 0,
        splits: list[str] | None = None,
    ):
        self._max_span = int(max_span)
        self._num_spans = int(num_spans)
        self._oldest = bool(oldest)
        self._span = int(span)
        self._splits = list(splits or [])

    def resolve_artifacts(
        self, store: Any, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        result = {}
        for key, artifacts in input_dict.items():
            if self._span:
                artifacts = [a for a in artifacts if span_of(a) == self._span]
            if self._splits:
                artifacts = [a for a in artifacts if _has_splits(a, self._splits)]
            result[key] = select_spans(
                artifacts, max_span=self._max_span, num_spans=self._num_spans, oldest=self._oldest
            )
        # Possibly empty: a required consumer input (the Trainer's examples) then fails loudly,
        # an optional one (the evaluator's holdout) is simply absent.
        return result


class BlessedModelBeforeSpanStrategy(resolver.ResolverStrategy):
    """The latest blessed Model trained on spans before `before_span` (all models when 0), and
    its ModelBlessing: the base model of a warm start and the evaluator's baseline."""

    def __init__(self, before_span: int = 0):
        self._before_span = int(before_span)

    def resolve_artifacts(
        self, store: Any, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        from tfx.components.evaluator import constants

        model_key = next(k for k, v in input_dict.items() if _type_is(v, k, "Model"))
        blessing_key = next(k for k in input_dict if k != model_key)
        blessed = {
            b.get_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY): b
            for b in input_dict[blessing_key]
            if b.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
        }
        for model in sorted(input_dict[model_key], key=lambda a: a.id, reverse=True):
            if model.id not in blessed:
                continue
            if self._before_span and _max_span(model) >= self._before_span:
                continue  # trained on this run's span or a later one (a re-run of an old week)
            return {model_key: [model], blessing_key: [blessed[model.id]]}
        return {model_key: [], blessing_key: []}


class ModelBeforeSpanStrategy(resolver.ResolverStrategy):
    """The latest Model whose `span` custom property is below `before_span` (none when 0).

    The concept backbone of an earlier span: reused so every span's features in a training
    window come from one network (ConceptPretrainer sets `span` on its Model).
    """

    def __init__(self, before_span: int = 0):
        self._before_span = int(before_span)

    def resolve_artifacts(
        self, store: Any, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        result = {}
        for key, artifacts in input_dict.items():
            earlier = [
                a
                for a in artifacts
                if a.has_custom_property("span")
                and 0 < int(a.get_int_custom_property("span")) < self._before_span
            ]
            result[key] = sorted(earlier, key=lambda a: a.id)[-1:]
        return result


def _has_splits(artifact: types.Artifact, splits: list[str]) -> bool:
    from tfx.types import artifact_utils

    present = artifact_utils.decode_split_names(artifact.split_names or "[]")
    return all(s in present for s in splits)


def _type_is(artifacts: list[types.Artifact], key: str, name: str) -> bool:
    if artifacts:
        return artifacts[0].type_name == name
    return key == name.lower()


def _max_span(model: types.Artifact) -> int:
    if model.has_custom_property(MAX_SPAN_PROPERTY):
        return int(model.get_int_custom_property(MAX_SPAN_PROPERTY))
    return 0
