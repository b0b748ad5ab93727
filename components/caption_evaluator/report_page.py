"""report.html of a CaptionEvaluator run: which items to show and what to show of each."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tfx import types

from components.caption_evaluator import blessing as blessing_rules
from components.caption_evaluator import decoding, report
from components.caption_evaluator.blessing_artifact import REPORT_FILE


def finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics that are numbers, as floats."""
    out = {}
    for name, value in metrics.items():
        try:
            out[str(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _item_scores(result: Any, metric: str) -> dict[str, float]:
    """Per-item values of one metric, whichever way the scorer nests `per_item`."""
    per_item = getattr(result, "per_item", None) or {}
    if isinstance(per_item.get(metric), Mapping):  # {metric: {id: value}}
        return {str(k): float(v) for k, v in per_item[metric].items()}
    return {  # {id: {metric: value}}
        str(k): float(v[metric])
        for k, v in per_item.items()
        if isinstance(v, Mapping) and v.get(metric) is not None
    }


def _grid(meta: decoding.ExampleMeta, attention) -> tuple[int, int] | None:
    if attention is None:
        return None
    cells = attention.shape[-1]
    if len(meta.local_shape) == 3 and meta.local_shape[0] * meta.local_shape[1] == cells:
        return int(meta.local_shape[0]), int(meta.local_shape[1])
    side = int(math.isqrt(cells))
    return (side, side) if side * side == cells else None


def choose_samples(item_ids: Sequence[str], scores: Mapping[str, float], n: int) -> list[str]:
    """`n` items for the report: the worst half and the best half by the candidate's score.

    Without per-item scores, the first `n` ids (sorted) - deterministic either way.
    """
    if n <= 0:
        return []
    scored = sorted((i for i in item_ids if i in scores), key=lambda i: (scores[i], i))
    if not scored:
        return sorted(item_ids)[:n]
    if len(scored) <= n:
        return scored
    worst = scored[: (n + 1) // 2]
    best = scored[len(scored) - n // 2 :]
    return worst + best


def write_report(
    uri: str,
    blessed: bool,
    checks: list[blessing_rules.Check],
    config: Any,  # executor.EvalConfig
    model: types.Artifact,
    baseline: types.Artifact | None,
    items: list[decoding.EvalItem],
    candidate: Any,  # executor._Decoded
    cand_result: Any,
    base_decoded: Any,
    base_result: Any,
    extra_context: Mapping[str, str] | None = None,
) -> None:
    """Writes `<uri>/report.html`: blessing, checks, metrics, sample items (worst and best)."""
    by_id = {item.item_id: item for item in items}
    cand_scores = _item_scores(cand_result, config.gate_metric)
    base_scores = _item_scores(base_result, config.gate_metric) if base_result else {}
    samples = []
    for item_id in choose_samples(list(by_id), cand_scores, config.report_samples):
        item = by_id[item_id]
        preds = item.predictions(candidate.predictions, per_story=candidate.model.per_story)
        base_preds = (
            item.predictions(base_decoded.predictions, per_story=base_decoded.model.per_story)
            if base_decoded is not None
            else None
        )
        samples.append(
            report.Sample(
                item_id=item_id,
                photos=item.photos,
                references=item.references,
                candidate=preds,
                baseline=base_preds,
                candidate_score=cand_scores.get(item_id),
                baseline_score=base_scores.get(item_id),
                grid=_grid(item.example, preds[0].attention if preds else None),
            )
        )
    html = report.render_report(
        blessed=blessed,
        checks=checks,
        candidate=report.ModelSummary(
            "candidate", model.uri, finite(cand_result.metrics), str(cand_result.signature)
        ),
        baseline=(
            report.ModelSummary(
                "baseline",
                baseline.uri,
                finite(base_result.metrics),
                str(base_result.signature),
            )
            if baseline is not None and base_result is not None
            else None
        ),
        gate_metric=config.gate_metric,
        samples=samples,
        context={
            "eval split": config.eval_split,
            "items scored": str(len(items)),
            "profile": config.profile,
            "METEOR": config.meteor,
            "gate": f"{config.gate_metric} (tolerance {config.tolerance:g})",
            "thresholds": json.dumps(dict(config.thresholds or {}), sort_keys=True),
            **dict(extra_context or {}),
        },
    )
    report.write_report(os.path.join(uri, REPORT_FILE), html)
