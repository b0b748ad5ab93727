"""The evaluation report: one self-contained HTML file (no network, images inlined as base64).

It shows the blessing decision and every check, the metric table (candidate vs baseline, with
the signature saying how each number was computed), and sample items: thumbnails, generated and
reference text and, for attention models, one heatmap overlay per generated word.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from components.caption_evaluator.blessing import METRIC_NAMES, Check
from components.caption_evaluator.decoding import PhotoMeta, PhotoPrediction
from vistflow.outputs import write_file_atomic

logger = logging.getLogger(__name__)

THUMBNAIL_PX = 160
OVERLAY_PX = 112
MAX_OVERLAY_WORDS = 8


@dataclass(frozen=True)
class ModelSummary:
    """A model's corpus-level result, as shown in the metric table."""

    role: str  # "candidate" / "baseline"
    uri: str
    metrics: Mapping[str, float]
    signature: str


@dataclass(frozen=True)
class Sample:
    """One item shown in the report."""

    item_id: str
    photos: Sequence[PhotoMeta]
    references: Sequence[str]
    candidate: Sequence[PhotoPrediction]
    baseline: Sequence[PhotoPrediction] | None
    candidate_score: float | None  # the item's gate-metric score, when the scorer gives one
    baseline_score: float | None
    grid: tuple[int, int] | None  # (H, W) of the attention grid


def _open_rgb(path: str):
    """The image at `path` as the shared decoder sees it (`vistflow.images.decode_pil`): upright
    per EXIF, 16 bits scaled rather than clipped, CMYK/palette/alpha to RGB, as the model did."""
    from PIL import Image

    from vistflow import image_limits, images

    limits = images.ImageLimits()
    if "://" in path:  # gs://, s3://...: through TensorFlow's file systems
        import tensorflow as tf

        opened = tf.io.gfile.GFile(path, "rb")
    else:
        opened = open(path, "rb")  # noqa: SIM115 - closed by the with below
    with opened as f:
        data = image_limits.read_bounded(f, limits.max_bytes)  # a huge file is not read whole
    return Image.fromarray(images.decode_pil(data, limits))


def _data_uri(img, fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=85)
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(path: str, size: int = THUMBNAIL_PX):
    """The image at `path` shrunk to fit `size` px, or None if it cannot be read."""
    try:
        img = _open_rgb(path)
    except Exception as e:  # noqa: BLE001 - the report must not fail on one unreadable image
        logger.warning("report: cannot read image %s: %s", path, e)
        return None
    img.thumbnail((size, size))
    return img


def attention_overlay(img, weights: np.ndarray, grid: tuple[int, int]):
    """`img` with a red-to-yellow heatmap of one step's attention over the `grid` cells."""
    from PIL import Image

    h, w = grid
    heat = np.asarray(weights, np.float32).reshape(h, w)
    heat = heat - heat.min()
    heat = heat / heat.max() if heat.max() > 0 else heat
    heat_img = Image.fromarray((heat * 255).astype(np.uint8), "L").resize(img.size, Image.BILINEAR)
    a = np.asarray(heat_img, np.float32)[..., None] / 255.0
    color = np.concatenate(
        [np.minimum(1.0, 2 * a) * 255, np.clip(2 * a - 1, 0, 1) * 255, np.zeros_like(a)], axis=-1
    )
    # Dim the photo so the heat stands out, then blend by attention strength.
    base = np.asarray(img, np.float32) * 0.55
    alpha = 0.15 + 0.6 * a
    out = base * (1 - alpha) + color * alpha
    return Image.fromarray(out.clip(0, 255).astype(np.uint8), "RGB")


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4f}"


def _metric_table(candidate: ModelSummary, baseline: ModelSummary | None, gate_metric: str) -> str:
    names = [
        m for m in METRIC_NAMES if m in candidate.metrics or (baseline and m in baseline.metrics)
    ]
    names += sorted(
        set(candidate.metrics) - set(names) - {m for m in candidate.metrics if m.startswith("_")}
    )
    head = "<tr><th>metric</th><th>candidate</th>"
    head += "<th>baseline</th><th>Δ</th></tr>" if baseline else "</tr>"
    rows = []
    for name in names:
        cand = candidate.metrics.get(name)
        cls = ' class="gate"' if name == gate_metric else ""
        row = f"<tr{cls}><td>{html.escape(name)}</td><td>{_fmt(cand)}</td>"
        if baseline:
            base = baseline.metrics.get(name)
            delta = None if cand is None or base is None else float(cand) - float(base)
            sign = "" if delta is None else ("pos" if delta > 0 else "neg" if delta < 0 else "")
            row += f'<td>{_fmt(base)}</td><td class="{sign}">{"" if delta is None else f"{delta:+.4f}"}</td>'
        rows.append(row + "</tr>")
    return f'<table class="metrics">{head}{"".join(rows)}</table>'


def _checks_table(checks: Sequence[Check]) -> str:
    if not checks:
        return "<p>No thresholds configured and no baseline: the candidate is blessed as is.</p>"
    rows = [
        "<tr><th>check</th><th>metric</th><th>value</th><th>bound</th><th>result</th><th>detail</th></tr>"
    ]
    for c in checks:
        rows.append(
            f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(c.metric)}</td>"
            f"<td>{_fmt(c.value)}</td><td>{_fmt(c.threshold)}</td>"
            f'<td class="{"pass" if c.passed else "fail"}">{"pass" if c.passed else "FAIL"}</td>'
            f"<td>{html.escape(c.detail)}</td></tr>"
        )
    return f'<table class="checks">{"".join(rows)}</table>'


def _sample_html(sample: Sample, gate_metric: str) -> str:
    parts = [f'<section class="sample"><h3>{html.escape(sample.item_id)}</h3>']
    scores = []
    if sample.candidate_score is not None:
        scores.append(f"candidate {gate_metric} {_fmt(sample.candidate_score)}")
    if sample.baseline_score is not None:
        scores.append(f"baseline {gate_metric} {_fmt(sample.baseline_score)}")
    if scores:
        parts.append(f'<p class="scores">{html.escape(" · ".join(scores))}</p>')
    parts.append('<div class="photos">')
    thumbs = []
    for i, photo in enumerate(sample.photos):
        img = thumbnail(photo.image_uri)
        thumbs.append(img)
        pred = sample.candidate[i] if i < len(sample.candidate) else None
        base = sample.baseline[i] if sample.baseline and i < len(sample.baseline) else None
        figure = ['<figure class="photo">']
        if img is not None:
            figure.append(f'<img src="{_data_uri(img)}" alt="{html.escape(photo.photo_id)}">')
        else:
            figure.append(
                f'<div class="missing">image unavailable<br>{html.escape(photo.image_uri)}</div>'
            )
        figure.append(f"<figcaption><b>{html.escape(photo.photo_id)}</b>")
        if len(sample.photos) > 1:
            # Story items: show each photo's own sentence under it.
            if pred is not None:
                figure.append(f'<div class="cand">{html.escape(pred.text)}</div>')
            if base is not None:
                figure.append(f'<div class="base">{html.escape(base.text)}</div>')
        figure.append("</figcaption></figure>")
        parts.append("".join(figure))
    parts.append("</div>")
    cand_text = " ".join(p.text for p in sample.candidate)
    parts.append(f'<dl><dt>candidate</dt><dd class="cand">{html.escape(cand_text)}</dd>')
    if sample.baseline is not None:
        base_text = " ".join(p.text for p in sample.baseline)
        parts.append(f'<dt>baseline</dt><dd class="base">{html.escape(base_text)}</dd>')
    parts.append("<dt>references</dt><dd><ol>")
    parts.extend(f"<li>{html.escape(r)}</li>" for r in sample.references)
    parts.append("</ol></dd></dl>")
    parts.append(_attention_html(sample, thumbs))
    parts.append("</section>")
    return "".join(parts)


def _attention_html(sample: Sample, thumbs: list) -> str:
    if sample.grid is None:
        return ""
    blocks = []
    for i, pred in enumerate(sample.candidate):
        img = thumbs[i] if i < len(thumbs) else None
        if pred.attention is None or img is None:
            continue
        attention = np.asarray(pred.attention, np.float32)
        h, w = sample.grid
        if attention.ndim != 2 or attention.shape[-1] != h * w:
            logger.warning(
                "report: attention of %s has shape %s, expected [T, %d]",
                sample.item_id,
                attention.shape,
                h * w,
            )
            continue
        small = img.copy()
        small.thumbnail((OVERLAY_PX, OVERLAY_PX))
        words = pred.text.split()
        cells = []
        for t, word in enumerate(words[: min(len(words), attention.shape[0], MAX_OVERLAY_WORDS)]):
            uri = _data_uri(attention_overlay(small, attention[t], (h, w)))
            cells.append(
                f'<figure class="att"><img src="{uri}" alt="attention for {html.escape(word)}">'
                f"<figcaption>{html.escape(word)}</figcaption></figure>"
            )
        if cells:
            blocks.append(
                f'<div class="attention"><h4>attention · {html.escape(sample.photos[i].photo_id)}</h4>'
                + "".join(cells)
                + "</div>"
            )
    return "".join(blocks)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{margin:0 0 4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;font-weight:700;color:#fff;font-size:18px}
.blessed{background:#1b7f3b}.not-blessed{background:#b3261e}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f3f3f3}tr.gate td{font-weight:700;background:#fff8e1}
td.pos{color:#1b7f3b}td.neg{color:#b3261e}td.pass{color:#1b7f3b;font-weight:700}
td.fail{color:#b3261e;font-weight:700}code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
.sample{border:1px solid #ddd;border-radius:8px;padding:10px 14px;margin:14px 0}
.sample h3{margin:0 0 4px;font-size:15px}.scores{color:#555;margin:0 0 8px}
.photos{display:flex;gap:10px;flex-wrap:wrap}.photo{margin:0;width:170px;font-size:12px}
.photo img{display:block;width:160px;height:120px;object-fit:contain;background:#f6f6f6;border-radius:4px}
.missing{width:160px;height:100px;background:#eee;color:#777;font-size:11px;padding:4px;overflow:hidden}
.cand{color:#0b57d0}.base{color:#7a4f01}dl{margin:8px 0}dt{font-weight:700;margin-top:4px}
dd{margin-left:18px}ol{margin:2px 0;padding-left:18px}
.attention{margin-top:8px}.attention h4{margin:4px 0;font-size:13px}
.att{display:inline-block;margin:0 6px 6px 0;text-align:center;font-size:12px}
.att img{display:block;width:112px;height:84px;object-fit:contain;border-radius:3px}
"""


def render_report(
    *,
    blessed: bool,
    checks: Sequence[Check],
    candidate: ModelSummary,
    baseline: ModelSummary | None,
    gate_metric: str,
    samples: Sequence[Sample],
    context: Mapping[str, str],
) -> str:
    """The report as an HTML string.

    Args:
      context: extra facts listed under the title (split, profile, item count...).
    """
    verdict = "BLESSED" if blessed else "NOT BLESSED"
    facts = "".join(
        f"<li>{html.escape(str(k))}: <code>{html.escape(str(v))}</code></li>"
        for k, v in context.items()
    )
    sigs = f"<li>candidate: <code>{html.escape(candidate.signature)}</code> — {html.escape(candidate.uri)}</li>"
    if baseline:
        sigs += f"<li>baseline: <code>{html.escape(baseline.signature)}</code> — {html.escape(baseline.uri)}</li>"
    body = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<title>Caption evaluation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Caption evaluation</h1>",
        f'<p><span class="verdict {"blessed" if blessed else "not-blessed"}">{verdict}</span></p>',
        f"<ul>{facts}</ul>",
        "<h2>Checks</h2>",
        _checks_table(checks),
        "<h2>Metrics</h2>",
        _metric_table(candidate, baseline, gate_metric),
        f"<p>How the numbers were computed:</p><ul>{sigs}</ul>",
        f"<h2>Samples ({len(samples)})</h2>",
    ]
    if not baseline:
        body.append("<p>No blessed baseline model: thresholds only.</p>")
    body.extend(_sample_html(s, gate_metric) for s in samples)
    body.append("</body></html>")
    return "\n".join(body)


def write_report(path: str, text: str) -> None:
    """Write the report whole or not at all (any URI tf.io.gfile handles, e.g. gs://)."""
    write_file_atomic(path, text)
