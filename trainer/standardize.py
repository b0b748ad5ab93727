"""Per-dimension statistics of the backbone features over the train split, for the model's
FeatureStandardizer (trainer/models/layers.py).

Why: decoders see image features only through a linear map, so features whose spread is tiny
(a random-weight backbone: ~0.002 across images) or dominated by a shared offset (ReLU fc7)
are learnt from slowly and the decoder falls back to the language prior: every image gets the
same sentence. Standardizing is an affine reparameterisation of that first map, so it changes
conditioning, not what the model can express.
"""

from __future__ import annotations

import logging

import numpy as np

from trainer.data import GLOBAL, LOCAL, PHOTO_MASK, TOKENS_IN
from vistflow.errors import VistflowError

logger = logging.getLogger(__name__)

MAX_ROWS = 2048  # enough for stable means and scales; bounds the pass in joint (pixel) mode


class _Moments:
    """Weighted running sums in float64 over the last axis."""

    def __init__(self):
        self.n = 0.0
        self.sum = self.sq = None

    def add(self, x: np.ndarray, w: np.ndarray) -> None:
        x = x.astype(np.float64)
        w = w.astype(np.float64)[:, None]
        s, q = (w * x).sum(0), (w * x * x).sum(0)
        self.sum = s if self.sum is None else self.sum + s
        self.sq = q if self.sq is None else self.sq + q
        self.n += float(w.sum())

    def mean_scale(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.sum / self.n
        std = np.sqrt(np.maximum(self.sq / self.n - mean * mean, 0.0))
        # Constant dimensions (dead ReLUs) would divide noise by ~0: floor at 1% of a typical
        # dimension's spread.
        alive = std[std > 0]
        floor = max(1e-2 * float(np.median(alive)), 1e-8) if alive.size else 1.0
        return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)


def feature_statistics(model, dataset, max_rows: int = MAX_ROWS) -> dict:
    """{"global_mean", "global_scale"?, "local_mean"?, "local_scale"?} of model.raw_features
    over up to `max_rows` rows of `dataset` ((inputs, targets) batches; padded photos of
    sequence rows are excluded)."""
    g_mom, l_mom = _Moments(), _Moments()
    rows = 0
    for inputs, _ in dataset:
        feats = model.raw_features(inputs)
        lead = tuple(inputs[TOKENS_IN].shape[:-1])  # [B] rows, or [B, P] for sequence models
        w = np.asarray(inputs[PHOTO_MASK]) if PHOTO_MASK in inputs else np.ones(lead)
        w = w.reshape(-1)
        if GLOBAL in feats:
            g = np.asarray(feats[GLOBAL])
            g_mom.add(g.reshape(-1, g.shape[-1]), w)
        if LOCAL in feats and model.standardizer.local_channels:
            loc = np.asarray(feats[LOCAL])
            positions, channels = loc.shape[-2], loc.shape[-1]
            l_mom.add(loc.reshape(-1, channels), np.repeat(w, positions))
        rows += int(lead[0])
        if rows >= max_rows:
            break
    if not (g_mom.n or l_mom.n):
        raise VistflowError("no training rows to compute feature statistics from")
    stats = {}
    if g_mom.n:
        stats.update(zip(("global_mean", "global_scale"), g_mom.mean_scale(), strict=True))
    if l_mom.n:
        stats.update(zip(("local_mean", "local_scale"), l_mom.mean_scale(), strict=True))
    return stats


def fit_standardizer(model, dataset, max_rows: int = MAX_ROWS) -> dict | None:
    """Set the model's standardizer from `dataset`; returns a summary (None if it has none)."""
    if model.standardizer is None:
        return None
    stats = feature_statistics(model, dataset, max_rows)
    model.standardizer.set_statistics(stats)
    summary: dict = {}
    if "global_scale" in stats:
        summary["global_mean_abs"] = float(np.abs(stats["global_mean"]).mean())
        summary["global_scale_median"] = float(np.median(stats["global_scale"]))
    if "local_scale" in stats:
        summary["local_scale_median"] = float(np.median(stats["local_scale"]))
    logger.info("feature standardization from the train split: %s", summary)
    return summary
