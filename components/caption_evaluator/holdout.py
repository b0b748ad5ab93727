"""The fixed holdout: candidate and baseline scored on the same split of a fixed span.

The eval split of this week's partition changes every week; a model that forgot the earlier
weeks can still look fine on an easy week. The holdout (by default the oldest span's test split,
picked by a span resolver in the pipeline) stays the same from run to run, so the comparison with
the baseline on it is fair: the candidate must not be worse there either (same tolerance).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from tfx import types
from tfx.types import artifact_utils

from components.caption_evaluator import blessing as blessing_rules
from components.caption_evaluator import decoding
from components.caption_evaluator.report_page import finite
from vistflow import example_files
from vistflow.errors import VistflowError

HOLDOUT_EXAMPLES_KEY = "holdout_examples"
HOLDOUT_SPLIT_KEY = "holdout_split"
CHECK_NAME = "holdout_baseline"


@dataclasses.dataclass
class HoldoutResult:
    """Scores of candidate and baseline on the holdout (`metrics.json`'s "holdout")."""

    uri: str
    span: int
    split: str
    items: int
    candidate: dict[str, float]
    baseline: dict[str, float] | None
    signature: str

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def checks(self, gate_metric: str, tolerance: float) -> list[blessing_rules.Check]:
        """The baseline comparison on the holdout (none without a baseline)."""
        if self.baseline is None:
            return []
        _, checks = blessing_rules.decide(
            self.candidate,
            self.baseline,
            thresholds={},
            gate_metric=gate_metric,
            tolerance=tolerance,
        )
        where = f"holdout (span {self.span}, {self.split})"
        return [
            dataclasses.replace(c, name=CHECK_NAME, detail=f"{where}: {c.detail}") for c in checks
        ]

    def context(self, gate_metric: str) -> dict[str, str]:
        """Rows of report.html's context table."""

        def value(metrics: Mapping[str, float] | None) -> str:
            got = (metrics or {}).get(gate_metric)
            return "-" if got is None else f"{got:.4f}"

        return {
            "holdout": f"span {self.span}, split {self.split} ({self.items} items)",
            f"holdout {gate_metric} candidate": value(self.candidate),
            f"holdout {gate_metric} baseline": value(self.baseline),
        }


def evaluate(
    examples: types.Artifact,
    split: str,
    model: types.Artifact,
    baseline: types.Artifact | None,
    *,
    profile: str,
    decode: Callable[[types.Artifact, list[str]], Any],
    score: Callable[[dict, dict, Any], Any],
) -> HoldoutResult:
    """Decodes `split` of `examples` with both models and scores both.

    `decode(model, files)` returns the executor's decoded predictions, `score(texts, references,
    stories)` a scoring result (the executor's, so the protocol and METEOR JVM are shared).
    """
    names = artifact_utils.decode_split_names(examples.split_names or "[]")
    if names and split not in names:
        raise VistflowError(f"{examples.uri}: holdout split {split!r} absent (has {names})")
    files = example_files.split_files(examples.uri, split)
    candidate = decode(model, files)
    items = decoding.build_items(candidate.metas, profile)
    if not items:
        raise VistflowError(f"{examples.uri}: holdout split {split!r} has no item with references")
    references = {item.item_id: list(item.references) for item in items}
    stories = None
    if profile != "coco" and all(m.task == "sis" for m in candidate.metas):
        stories = decoding.story_references(candidate.metas)

    def scored(decoded) -> Any:
        texts = {
            i.item_id: i.text(decoded.predictions, per_story=decoded.model.per_story) for i in items
        }
        return score(texts, references, stories)

    cand_result = scored(candidate)
    base_metrics = None
    if baseline is not None:
        same = os.path.normpath(baseline.uri) == os.path.normpath(model.uri)
        base_metrics = finite(
            cand_result.metrics if same else scored(decode(baseline, files)).metrics
        )
    return HoldoutResult(
        uri=examples.uri,
        span=int(examples.span or 0),
        split=split,
        items=len(items),
        candidate=finite(cand_result.metrics),
        baseline=base_metrics,
        signature=str(cand_result.signature),
    )
