"""Renders report.json as one self-contained HTML page (inline CSS, inline PNG plots/thumbnails).

Only the report dict and the samples go in, so the page is byte-identical for identical inputs
(plots carry no timestamps: PNG metadata is cleared).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence

from components.vist_example_gen import reasons

_CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;
 color:#1d2330;background:#f4f6f9}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:2px solid #d8dee8;
 padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#5a6475;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:150px;box-shadow:0 1px 3px #0002}
.card b{display:block;font-size:24px}.card span{color:#5a6475}
.ok{color:#1f7a3a}.bad{color:#b3261e}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;box-shadow:0 1px 3px #0002}
th,td{padding:5px 10px;border-bottom:1px solid #e3e7ee;text-align:right;vertical-align:top}
th{background:#eef1f6;font-weight:600}td.l,th.l{text-align:left}
tr.task td{color:#5a6475;font-size:13px}
img.plot{max-width:100%;background:#fff;border-radius:6px;box-shadow:0 1px 3px #0002;margin:6px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.thumb{background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 3px #0002;font-size:12px;
 overflow-wrap:anywhere}
.thumb .img{height:100px;display:flex;align-items:center;justify-content:center;background:#e9ecf1;
 border-radius:4px;margin-bottom:6px;color:#7a8394}
.tag{display:inline-block;background:#b3261e;color:#fff;border-radius:4px;padding:0 6px;
 font-size:12px}
.mono{font-family:'DejaVu Sans Mono',monospace;font-size:12px;overflow-wrap:anywhere}
td.detail{max-width:520px;text-align:left}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # Software=None: no version string; PNG from Agg has no timestamp, so bytes are stable.
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="plot" src="data:image/png;base64,{data}">'


def _figure(width: float, height: float, ncols: int = 1, *, left: float = 0.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    # Fixed margins (inches) instead of constrained layout: half the rendering time.
    fig.subplots_adjust(
        left=left / width,
        right=1 - 0.15 / width,
        bottom=0.55 / height,
        top=1 - 0.5 / height,
        wspace=0.35,
    )
    axes = fig.subplots(1, ncols)
    return fig, (axes if ncols > 1 else [axes])


def _splits(report: Mapping) -> list[str]:
    return [k for k, v in report.items() if isinstance(v, dict) and "invariant_ok" in v]


def _reason_columns(report: Mapping) -> list[str]:
    present = {r for s in _splits(report) for r in report[s]["by_reason"]}
    return [r for r in reasons.ALL_REASONS if r in present] + sorted(
        present - set(reasons.ALL_REASONS)
    )


def _counts_plot(report: Mapping) -> str:
    splits = _splits(report)
    columns = _reason_columns(report)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.2))
    # Room on the left of the second plot for the reason names.
    ax1 = fig.add_axes((0.05, 0.12, 0.33, 0.76))
    ax2 = fig.add_axes((0.55, 0.12, 0.43, 0.76))
    accepted = [report[s]["accepted"] for s in splits]
    rejected = [report[s]["rejected"] for s in splits]
    ax1.bar(splits, accepted, color="#3c8d5a", label="accepted")
    ax1.bar(splits, rejected, bottom=accepted, color="#c0453b", label="rejected")
    ax1.set_title("Stories per split")
    ax1.legend()
    # Horizontal, stacked by split: reason names stay readable however many there are.
    left = [0] * len(columns)
    for split in splits:
        counts = [report[split]["by_reason"].get(r, 0) for r in columns]
        ax2.barh(columns, counts, left=left, label=split)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax2.invert_yaxis()
    ax2.set_title("Rejected stories by reason")
    if columns:
        ax2.legend()
    return _png(fig)


def _hist_plots(entries: Sequence[tuple[str, Mapping]], color: str) -> str:
    entries = [(t, s) for t, s in entries if s.get("count")]
    if not entries:
        return "<p>No accepted images.</p>"
    fig, axes = _figure(2.8 * len(entries), 2.6, len(entries))
    for ax, (title, summary) in zip(axes, entries, strict=True):
        edges, counts = summary["hist"]["edges"], summary["hist"]["counts"]
        widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color=color, edgecolor="white")
        ax.set_title(f"{title}\nmedian {summary['median']}", fontsize=9)
        ax.tick_params(labelsize=7)
    return _png(fig)


def _length_plot(report: Mapping) -> str:
    splits = [s for s in _splits(report) if report["text"][s]["sentence_length"].get("count")]
    if not splits:
        return "<p>No accepted sentences.</p>"
    fig, axes = _figure(3.6 * len(splits), 2.6, len(splits))
    for ax, split in zip(axes, splits, strict=True):
        summary = report["text"][split]["sentence_length"]
        edges, counts = summary["hist"]["edges"], summary["hist"]["counts"]
        widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color="#4a6fa5", edgecolor="white")
        ax.set_title(f"{split}: tokens per sentence (median {summary['median']})", fontsize=9)
        ax.tick_params(labelsize=7)
    return _png(fig)


def _modes_plot(images: Mapping) -> str:
    modes = images["modes"]
    if not modes:
        return ""
    fig, (ax,) = _figure(5, 2.4)
    names = list(modes)
    ok = [modes[m]["ok"] for m in names]
    bad = [modes[m]["rejected"] for m in names]
    ax.bar(names, ok, color="#3c8d5a", label="accepted")
    ax.bar(names, bad, bottom=ok, color="#c0453b", label="rejected")
    ax.set_title("Image modes (as stored)", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _split_table(report: Mapping) -> str:
    rows = []
    for split in _splits(report):
        s = report[split]
        if s.get("absent"):
            rows.append(
                f'<tr class="absent"><td class="l"><b>{_e(split)}</b></td>'
                '<td class="l" colspan="6">absent: no input for this split</td></tr>'
            )
            continue
        ok = '<span class="ok">✓</span>' if s["invariant_ok"] else '<span class="bad">✗</span>'
        rows.append(
            f'<tr><td class="l"><b>{_e(split)}</b></td><td class="l">all</td><td>{s["input"]}</td>'
            f"<td>{s['accepted']}</td><td>{s['rejected']}</td><td>{_pct(s['rejected'], s['input'])}</td>"
            f"<td>{ok}</td></tr>"
        )
        for task, t in s["by_task"].items():
            rows.append(
                f'<tr class="task"><td></td><td class="l">{_e(task)}</td><td>{t["input"]}</td>'
                f"<td>{t['accepted']}</td><td>{t['rejected']}</td>"
                f"<td>{_pct(t['rejected'], t['input'])}</td><td></td></tr>"
            )
    return (
        '<table id="split-counts"><tr><th class="l">split</th><th class="l">task</th>'
        "<th>input</th><th>accepted</th><th>rejected</th><th>% rejected</th>"
        "<th>input = accepted + rejected</th></tr>" + "".join(rows) + "</table>"
    )


def _absent_note(report: Mapping) -> str:
    absent = report.get("splits_absent") or []
    if not absent:
        return ""
    files = report.get("files_absent") or []
    listed = "".join(f'<li class="mono">{_e(f)}</li>' for f in files)
    return (
        f'<p id="splits-absent" class="bad">Splits absent from the input: '
        f"<b>{_e(', '.join(absent))}</b>. Only {_e(', '.join(report.get('splits_present', [])))} "
        f"{'was' if len(report.get('splits_present', [])) == 1 else 'were'} ingested.</p>"
        + (f"<p>Annotation files not found:</p><ul>{listed}</ul>" if listed else "")
    )


def _reason_legend(report: Mapping) -> str:
    codes = report.get("reason_codes") or {r: reasons.DESCRIPTIONS[r] for r in reasons.ALL_REASONS}
    rows = "".join(
        f'<tr><td class="l"><span class="tag">{_e(code)}</span></td><td class="l">{_e(text)}</td></tr>'
        for code, text in codes.items()
    )
    return (
        "<details><summary>Reason codes</summary>"
        '<table id="reason-legend"><tr><th class="l">code</th><th class="l">meaning</th></tr>'
        f"{rows}</table></details>"
    )


def _reason_table(report: Mapping) -> str:
    splits = _splits(report)
    rows = []
    for reason in _reason_columns(report):
        counts = [report[s]["by_reason"].get(reason, 0) for s in splits]
        cells = "".join(f"<td>{n}</td>" for n in counts)
        rows.append(f'<tr><td class="l">{_e(reason)}</td>{cells}<td><b>{sum(counts)}</b></td></tr>')
    if not rows:
        return "<p>No story was rejected.</p>"
    head = "".join(f"<th>{_e(s)}</th>" for s in splits)
    return (
        f'<table id="reject-reasons"><tr><th class="l">reason</th>{head}<th>total</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _kv_table(rows: Sequence[tuple], header: Sequence[str], table_id: str = "") -> str:
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(
        f'<th class="{"l" if i == 0 else ""}">{_e(h)}</th>' for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i == 0 else ""}">{_e(c)}</td>' for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table{ident}><tr>{head}</tr>{body}</table>"


def _images_section(images: Mapping) -> str:
    parts = [
        '<div class="cards">',
        f'<div class="card"><b>{images["checked"]}</b><span>unique images checked</span></div>',
        f'<div class="card"><b class="ok">{images["ok"]}</b><span>usable</span></div>',
        f'<div class="card"><b class="bad">{images["rejected"]}</b><span>rejected</span></div>',
        f'<div class="card"><b>{sum(images["converted"].values())}</b>'
        "<span>usable, converted to RGB</span></div></div>",
        "<h3>Image checks by reason</h3>",
        _kv_table(
            list(images["by_reason"].items()) or [("none", 0)],
            ["reason", "images"],
            "image-reasons",
        ),
        "<h3>Modes</h3>",
        _kv_table(
            [
                (m, v["ok"], v["rejected"], images["converted"].get(m, 0))
                for m, v in images["modes"].items()
            ],
            ["mode", "accepted", "rejected", "converted"],
            "image-modes",
        ),
        _modes_plot(images),
        "<h3>Formats</h3>",
        _kv_table(
            [(f, v["ok"], v["rejected"]) for f, v in images["formats"].items()],
            ["format", "accepted", "rejected"],
        ),
        "<h3>Sizes of usable images</h3>",
        _hist_plots(
            [
                ("width (px)", images["width"]),
                ("height (px)", images["height"]),
                ("aspect (w/h)", images["aspect"]),
                ("megapixels", images["megapixels"]),
                ("file size (KiB)", images["file_kib"]),
            ],
            "#7a5ea8",
        ),
    ]
    return "\n".join(parts)


def _text_section(report: Mapping) -> str:
    text = report["text"]
    rows = []
    for split in _splits(report):
        t = text[split]
        length = t["sentence_length"]
        rows.append(
            (
                split,
                t["items"],
                t["sentences"],
                t["tokens"],
                length.get("mean", "–"),
                length.get("max", "–"),
                t["vocab"],
                t["vocab_min_count_5"],
                f"{100 * t['unk_rate']:.2f}%" if "unk_rate" in t else "–",
                t["non_ascii_sentences"],
            )
        )
    table = _kv_table(
        rows,
        [
            "split",
            "items",
            "sentences",
            "tokens",
            "mean length",
            "max length",
            "vocabulary",
            "vocab (count ≥ 5)",
            "<unk> vs train",
            "non-ASCII sentences",
        ],
        "text-stats",
    )
    words = ", ".join(f"{_e(w)} ({n})" for w, n in text["all"]["top_words"])
    return (
        f"{table}<p>Vocabulary over all splits: {text['all']['vocab']} words, "
        f"{text['all']['vocab_min_count_5']} seen at least 5 times.</p>"
        f"{_length_plot(report)}<h3>Most frequent words</h3><p>{words or '–'}</p>"
    )


def _gallery(image_samples: Sequence[tuple], total: int) -> str:
    if not image_samples:
        return "<p>No rejected images.</p>"
    cards = []
    for _order, split, photo_id, uri, reason, detail, thumb, size, mode, used_by in image_samples:
        preview = (
            f'<img alt="{_e(photo_id)}" src="data:image/jpeg;base64,{thumb}">'
            if thumb
            else "no preview"
        )
        meta = " · ".join(x for x in (split, size, mode) if x)
        cards.append(
            f'<div class="thumb"><div class="img">{preview}</div><span class="tag">{_e(reason)}</span> '
            f"<b>{_e(photo_id)}</b> <span>{_e(meta)}</span><div>{_e(detail)}</div>"
            f'<div class="mono">{_e(uri)}</div><div>used by {_e(used_by)}</div></div>'
        )
    more = (
        f"<p>Showing {len(image_samples)} of {total}; all are in rejects.jsonl.</p>"
        if total > len(image_samples)
        else ""
    )
    return f'<div class="grid" id="rejected-images">{"".join(cards)}</div>{more}'


def _story_rejects(rows: Sequence[Mapping], total: int) -> str:
    if not rows:
        return "<p>No rejected stories.</p>"
    body = "".join(
        f'<tr><td class="l">{_e(r["split"])}</td><td class="l">{_e(r["task"])}</td>'
        f'<td class="l">{_e(r["id"])}</td><td class="l"><span class="tag">{_e(r["reason"])}</span></td>'
        f'<td class="detail">{_e(r["detail"])}</td></tr>'
        for r in rows
    )
    more = (
        f"<p>Showing {len(rows)} of {total}; all are in rejects.jsonl.</p>"
        if total > len(rows)
        else ""
    )
    return (
        '<table id="story-rejects"><tr><th class="l">split</th><th class="l">task</th>'
        '<th class="l">id</th><th class="l">reason</th><th class="l">detail</th></tr>'
        f"{body}</table>{more}"
    )


def render(
    report: Mapping, *, image_samples: Sequence[tuple], story_rejects: Sequence[Mapping]
) -> str:
    """The HTML page for a report.json dict plus samples of rejected images and stories."""
    totals, images, config = report["totals"], report["images"], report["config"]
    invariant = all(report[s]["invariant_ok"] for s in _splits(report))
    limits = ", ".join(f"{k}={v}" for k, v in config.get("limits", {}).items())
    source = config.get("data_root") or config.get("karpathy_json", "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>vistflow ingest: data-quality report</title>
<style>{_CSS}</style></head>
<body><main>
<h1>Data-quality report</h1>
<p class="sub">format <b>{_e(config.get("format", ""))}</b> · tasks {_e(", ".join(config.get("tasks", [])))}
 · source <span class="mono">{_e(source)}</span> · limits {_e(limits)}</p>
<div class="cards">
<div class="card"><b id="total-input">{totals["input"]}</b><span>input records</span></div>
<div class="card"><b class="ok" id="total-accepted">{totals["accepted"]}</b><span>accepted</span></div>
<div class="card"><b class="bad" id="total-rejected">{totals["rejected"]}</b><span>rejected stories</span></div>
<div class="card"><b class="bad">{report["rejects"]["images"]}</b><span>rejected image files</span></div>
<div class="card"><b class="{"ok" if invariant else "bad"}">{"holds" if invariant else "BROKEN"}</b>
<span>input = accepted + rejected</span></div>
</div>
<h2>Stories per split and reason</h2>
{_absent_note(report)}
<p>A story (SIS), photo sequence (DII) or captioned image is rejected whole when any of its photos
is; its reason is its first fault (record faults before image faults). Image files are listed
separately below, one line each in rejects.jsonl.</p>
{_split_table(report)}
<h3>Rejected stories by reason</h3>
{_reason_table(report)}
{_reason_legend(report)}
{_counts_plot(report)}
<h2>Images</h2>
{_images_section(images)}
<h2>Text</h2>
{_text_section(report)}
<h2>Rejected images</h2>
{_gallery(image_samples, report["rejects"]["images"])}
<h2>Rejected stories</h2>
{_story_rejects(story_rejects, report["rejects"]["stories"])}
</main></body></html>
"""
