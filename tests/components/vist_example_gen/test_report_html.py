"""report.html: self-contained, and rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from components.vist_example_gen import quality, report_html

CHROMIUM = "/usr/bin/chromium"


def chromium(tmp_path, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args,
        ],
        capture_output=True, text=True, timeout=timeout, check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report_file(faulty_ingest):
    out, report = faulty_ingest
    return out / "report.html", report


def test_report_is_self_contained(report_file):
    html = report_file[0].read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    assert "<script" not in html and "<link" not in html
    assert html.count('src="data:image/png;base64,') == 4  # counts, modes, sizes, sentence lengths
    assert html.count('src="data:image/jpeg;base64,') == 1  # the truncated JPEG's thumbnail


def test_chromium_renders_the_report(report_file, tmp_path):
    path, report = report_file
    shot = tmp_path / "report.png"
    dom = chromium(
        tmp_path, f"--screenshot={shot}", "--dump-dom", "--window-size=1200,2000", path.as_uri()
    ).stdout
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (2000, 1200, 3)
    background = np.array([0xF4, 0xF6, 0xF9])  # the page colour in report_html's CSS
    off_background = np.abs(pixels.astype(int) - background).sum(axis=2) > 8
    ink = pixels.astype(int).sum(axis=2) < 300  # text, bars, thumbnails
    assert off_background.mean() > 0.25  # white cards, tables and plots cover the page
    assert ink.mean() > 0.01
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # anti-aliased text and plots

    totals = report["totals"]
    assert f'id="total-input">{totals["input"]}<' in dom
    assert f'id="total-accepted">{totals["accepted"]}<' in dom
    assert f'id="total-rejected">{totals["rejected"]}<' in dom
    rows = re.findall(
        r'<tr><td class="l"><b>(\w+)</b></td><td class="l">all</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>',
        dom,
    )
    assert rows == [
        (s, *(str(report[s][k]) for k in ("input", "accepted", "rejected")))
        for s in ("train", "val", "test")
    ]
    assert dom.count('class="thumb"') == report["images"]["rejected"]
    assert "holds" in dom


def test_an_empty_dataset_still_renders():
    report = quality.assemble_report(
        {("split", "train", "input", "sis"): 0},
        top_words={},
        shards=[],
        config={"format": "vist", "tasks": ["sis"], "limits": {"max_pixels": 1}},
        n_image_rejects=0,
    )
    report["rejects"] = {"stories": 0, "images": 0}
    html = report_html.render(report, image_samples=[], story_rejects=[])
    assert "No rejected images." in html and "No accepted images." in html
    assert 'id="total-input">0<' in html
