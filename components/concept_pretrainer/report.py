"""report.html of concept pretraining: scores beside the baseline, curves, per-concept P/R, photos.

One self-contained file (plots as inline SVG, photos as base64 thumbnails), like the other reports.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any

REPORT_FILE = "report.html"
_THUMB_PX = 128


def _svg_lines(series: dict[str, list[float]], width: int = 420, height: int = 160) -> str:
    """A small line chart of per-epoch series, each scaled to its own range (labelled)."""
    colours = ("#1f77b4", "#d62728", "#2ca02c")
    parts = [f'<svg width="{width}" height="{height + 30}" role="img">']
    for k, (name, ys) in enumerate(series.items()):
        if not ys:
            continue
        lo, hi = min(ys), max(ys)
        span = (hi - lo) or 1.0
        step = width / max(len(ys) - 1, 1)
        points = " ".join(
            f"{i * step:.1f},{height - (y - lo) / span * (height - 10) - 5:.1f}"
            for i, y in enumerate(ys)
        )
        colour = colours[k % len(colours)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        parts.append(
            f'<text x="{5 + k * 210}" y="{height + 20}" fill="{colour}" font-size="12">'
            f"{html.escape(name)}: {ys[0]:.3f} → {ys[-1]:.3f}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg_bars(rows: list[dict[str, Any]], width: int = 640) -> str:
    """Horizontal precision (blue) and recall (red) bars per concept."""
    h = 16
    parts = [f'<svg width="{width}" height="{h * len(rows) + 10}" role="img">']
    for i, r in enumerate(rows):
        y = i * h + 4
        parts.append(f'<text x="0" y="{y + 11}" font-size="11">{html.escape(r["concept"])}</text>')
        for j, (key, colour) in enumerate((("precision", "#1f77b4"), ("recall", "#d62728"))):
            w = r[key] * (width - 260) / 2
            x = 120 + j * (width - 260) / 2 + j * 10
            parts.append(
                f'<rect x="{x:.0f}" y="{y + j * 6}" width="{w:.1f}" height="6" fill="{colour}">'
                f"<title>{key} {r[key]:.2f}</title></rect>"
            )
        parts.append(
            f'<text x="{width - 130}" y="{y + 11}" font-size="11">P {r["precision"]:.2f} · '
            f"R {r['recall']:.2f} · n {r['val_photos']}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _thumb(uri: str) -> str:
    """A base64 JPEG thumbnail of `uri` through the shared decoder, or '' if it cannot be read."""
    import tensorflow as tf
    from PIL import Image

    from vistflow import images

    try:
        with tf.io.gfile.GFile(uri, "rb") as f:
            rgb = images.decode_pil(f.read(), images.ImageLimits())
    except Exception:  # noqa: BLE001 - a report shows what it can; training already counted it
        return ""
    img = Image.fromarray(rgb)
    img.thumbnail((_THUMB_PX, _THUMB_PX))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render(result: dict[str, Any], examples_uri: str = "") -> str:
    val, base = result["val"], result["frequency_baseline"]
    history = result.get("history", [])
    measured = [r for r in result["per_concept"] if r["val_photos"]][:40]
    rows = "".join(
        f"<tr><td>{name}</td><td>{s['precision']:.3f}</td><td>{s['recall']:.3f}</td>"
        f"<td>{s['f1']:.3f}</td><td>{s['macro_f1']:.3f}</td></tr>"
        for name, s in (("concept backbone", val), ("frequency baseline", base))
    )
    photos = []
    for ex in result.get("examples", []):
        src = _thumb(ex["uri"])
        predicted = ", ".join(f"{w} {p:.2f}" for w, p in ex["predicted"])
        photos.append(
            '<figure style="display:inline-block;width:200px;vertical-align:top">'
            + (f'<img src="{src}" alt="{html.escape(ex["photo_id"])}">' if src else "")
            + f"<figcaption><b>predicted</b>: {html.escape(predicted)}<br><b>captions name</b>: "
            f"{html.escape(', '.join(ex['captions_name']) or '—')}</figcaption></figure>"
        )
    seconds = result.get("seconds", {})
    base_weights = result.get("base_weights", {}).get("weights", "?")
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Concept pretraining — {html.escape(result["backbone"])}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 8px;text-align:right}}</style>
</head><body>
<h1>Concept pretraining of {html.escape(result["backbone"])}</h1>
<p>Started from <code>{html.escape(str(base_weights))}</code>; {result["num_concepts"]} concepts
(the words most train photos' captions use); {result["photos"]["train"]} train photos,
{result["photos"]["val"]} val photos; threshold {result["threshold"]}.
Examples: <code>{html.escape(examples_uri)}</code>.</p>
<h2>Val precision / recall (micro) beside the frequency baseline</h2>
<table><tr><th></th><th>precision</th><th>recall</th><th>F1</th><th>macro F1</th></tr>{rows}</table>
<p>Frequency baseline: every photo gets the most frequent concepts (as many as a train photo has
on average). Time: decode {seconds.get("decode", 0):.0f} s, train {seconds.get("train", 0):.0f} s,
total {seconds.get("total", 0):.0f} s. Photos that could not be decoded:
{len(result.get("failed", {}))}.</p>
<h2>Training</h2>
{_svg_lines({"loss": [h["loss"] for h in history], "val F1": [h["val_f1"] for h in history]})}
<h2>Per concept (most frequent first; blue precision, red recall)</h2>
{_svg_bars(measured)}
<h2>Val photos</h2>
{"".join(photos)}
</body></html>
"""


def write_report(out_dir: str, result: dict[str, Any], examples_uri: str = "") -> str:
    import tensorflow as tf

    path = os.path.join(out_dir, REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(render(result, examples_uri))
    return path
