"""benchmarks.quality's claims: paired bootstrap over seeds and test stories, CI half-widths."""

from __future__ import annotations

import numpy as np

from benchmarks.quality_data import METRICS

RESOLVE = 0.05  # the CIDEr difference issue 13 item 3 asks the benchmark to resolve


def _cmp(claim, a_label, a_runs, b_label, b_runs, seed: int = 0, resamples: int = 2000) -> dict:
    """Claim: A > B, judged on CIDEr. `a_runs`/`b_runs`: one decoding result per training seed
    (paired: the same seed's run on both sides; a deterministic baseline repeats its one result).

    The 95% interval of mean(A - B) comes from a two-level bootstrap: resample the seeds, then
    the scored stories, both with replacement (so it covers training randomness and which stories
    were held out). "held" when the interval is above 0, "reversed" when below, otherwise
    "within noise". With few seeds the seed level underestimates its spread (by (S-1)/S).
    """
    if not a_runs or not b_runs:
        return {"claim": claim, "status": "not run", "a": a_label, "b": b_label}
    a, b = _mean_metrics(a_runs), _mean_metrics(b_runs)
    wins = {m: (a[m] > b[m]) if a[m] is not None and b[m] is not None else None for m in METRICS}
    diff = np.asarray([r["_per_story_CIDEr"] for r in a_runs]) - np.asarray(
        [r["_per_story_CIDEr"] for r in b_runs]
    )  # [seeds, stories]
    rng = np.random.default_rng(seed)
    s_count, n = diff.shape
    means = np.empty(resamples)
    for i in range(resamples):
        rows = diff[rng.integers(s_count, size=s_count)]
        means[i] = rows[:, rng.integers(n, size=n)].mean()
    low, high = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    status = "held" if low > 0 else "reversed" if high < 0 else "within noise"
    return {
        "claim": claim,
        "a": a_label,
        "b": b_label,
        "a_metrics": a,
        "b_metrics": b,
        "a_wins": wins,
        "seeds": s_count,
        "stories": n,
        "cider_diff": round(float(diff.mean()), 4),
        "cider_diff_per_seed": [round(float(x), 4) for x in diff.mean(1)],
        "cider_diff_ci95": [round(low, 4), round(high, 4)],
        "ci_half_width": round((high - low) / 2, 4),
        f"resolves_{RESOLVE}": (high - low) / 2 < RESOLVE,
        "status": status,
    }


def _mean_metrics(runs: list[dict]) -> dict:
    """Each metric's mean over the seeds' runs (None when a run lacks it)."""
    out = {}
    for m in METRICS:
        vals = [r["metrics"][m] for r in runs]
        out[m] = None if any(v is None for v in vals) else round(float(np.mean(vals)), 4)
    return out


def _aggregate(per_seed: dict[int, dict]) -> dict:
    """One model's runs over seeds -> the table row: mean metrics per decoding, per-seed CIDEr."""
    first = next(iter(per_seed.values()))
    row = {
        "model": first["model"],
        "seeds": sorted(per_seed),
        "wall_s": round(sum(r["wall_s"] for r in per_seed.values()), 1),
        "best_val_token_nll": round(
            float(np.mean([r["best_val_token_nll"] for r in per_seed.values()])), 4
        ),
        "decodings": {},
        "per_seed": per_seed,
    }
    for dec in first["decodings"]:
        runs = [r["decodings"][dec] for r in per_seed.values()]
        row["decodings"][dec] = {
            "metrics": _mean_metrics(runs),
            "CIDEr_per_seed": [r["metrics"]["CIDEr"] for r in runs],
            "distinct_sentences": round(float(np.mean([r["distinct_sentences"] for r in runs])), 1),
            "sentences": runs[0]["sentences"],
        }
    return row
