"""The blessing decision: absolute thresholds plus "not worse than the baseline" on one metric.

Pure Python (no TensorFlow) so the rules are cheap to test and to reuse outside TFX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

# The metric names the scoring library reports (pycocoevalcap's spelling).
METRIC_NAMES = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


@dataclass(frozen=True)
class Check:
    """One blessing check and its outcome (a row of `reasons.json`)."""

    name: str  # "threshold", "baseline" or "anomalies" (the examples failed validation)
    metric: str
    value: float | None  # the candidate's value (None if not computed)
    threshold: float | None  # the bound the value was compared with
    passed: bool
    detail: str

    def to_json(self) -> dict:
        return asdict(self)


def validate_config(
    thresholds: Mapping[str, float], gate_metric: str, tolerance: float
) -> dict[str, float]:
    """Normalised thresholds; raises ValueError naming a bad metric, bound or tolerance."""
    if gate_metric not in METRIC_NAMES:
        raise ValueError(f"gate_metric {gate_metric!r} is not one of {', '.join(METRIC_NAMES)}")
    out = {}
    for metric, bound in dict(thresholds).items():
        if metric not in METRIC_NAMES:
            raise ValueError(
                f"threshold on {metric!r}: not a metric (one of {', '.join(METRIC_NAMES)})"
            )
        if isinstance(bound, bool) or not isinstance(bound, int | float) or math.isnan(bound):
            raise ValueError(f"threshold on {metric!r}: {bound!r} is not a number")
        out[metric] = float(bound)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise ValueError(f"tolerance {tolerance!r}: must be a number >= 0")
    return out


def _metric(metrics: Mapping[str, float], name: str) -> float | None:
    value = metrics.get(name)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def decide(
    candidate: Mapping[str, float],
    baseline: Mapping[str, float] | None,
    *,
    thresholds: Mapping[str, float],
    gate_metric: str,
    tolerance: float,
) -> tuple[bool, list[Check]]:
    """Whether to bless the candidate, and every check that was made.

    Blessed iff every threshold holds (`candidate[m] >= bound`) and, when a baseline exists,
    `candidate[gate] >= baseline[gate] - tolerance`. A metric that was not computed (e.g.
    METEOR with meteor="none") fails its check: a gate that cannot be evaluated must not pass.
    """
    checks: list[Check] = []
    for metric, bound in sorted(thresholds.items()):
        value = _metric(candidate, metric)
        if value is None:
            checks.append(
                Check("threshold", metric, None, bound, False, f"{metric} was not computed")
            )
            continue
        passed = value >= bound
        checks.append(
            Check(
                "threshold",
                metric,
                value,
                bound,
                passed,
                f"{metric} {value:.4f} {'>=' if passed else '<'} {bound:.4f}",
            )
        )
    if baseline is not None:
        value = _metric(candidate, gate_metric)
        base = _metric(baseline, gate_metric)
        if value is None or base is None:
            who = "candidate" if value is None else "baseline"
            checks.append(
                Check(
                    "baseline",
                    gate_metric,
                    value,
                    None,
                    False,
                    f"{gate_metric} was not computed for the {who}",
                )
            )
        else:
            bound = base - tolerance
            passed = value >= bound
            checks.append(
                Check(
                    "baseline",
                    gate_metric,
                    value,
                    bound,
                    passed,
                    f"{gate_metric} {value:.4f} vs baseline {base:.4f} (tolerance {tolerance:g}): "
                    + ("not worse beyond tolerance" if passed else "worse beyond tolerance"),
                )
            )
    return all(c.passed for c in checks), checks
