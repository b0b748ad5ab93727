"""The HTML report: content, attention overlays, and a real render in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
from PIL import Image

from components.caption_evaluator import report
from components.caption_evaluator.blessing import Check
from components.caption_evaluator.decoding import PhotoMeta, PhotoPrediction

CHROMIUM = "/usr/bin/chromium"


def _sample(tmp_path, with_attention: bool = True) -> report.Sample:
    img = Image.new("RGB", (120, 90), (30, 60, 200))
    img.save(tmp_path / "p1.jpg")
    attention = np.zeros((4, 4), np.float16)
    attention[:, 3] = 1.0  # every step attends to the last cell (bottom right of a 2x2 grid)
    return report.Sample(
        item_id="p1",
        photos=[
            PhotoMeta("p1", str(tmp_path / "p1.jpg"), ("a blue photo", "blue")),
            PhotoMeta("p2", str(tmp_path / "missing.jpg"), ("x",)),
        ],
        references=["a blue photo <b>", "blue"],
        candidate=[
            PhotoPrediction("a blue photo today", -1.0, attention if with_attention else None),
            PhotoPrediction("second", -2.0, None),
        ],
        baseline=[PhotoPrediction("a photo", -1.5), PhotoPrediction("two", -1.0)],
        candidate_score=0.75,
        baseline_score=0.5,
        grid=(2, 2) if with_attention else None,
    )


def _render(tmp_path, blessed=True) -> str:
    return report.render_report(
        blessed=blessed,
        checks=[Check("threshold", "Bleu_4", 0.2, 0.05, True, "Bleu_4 0.2000 >= 0.0500")],
        candidate=report.ModelSummary(
            "candidate", "/m/cand", {"Bleu_4": 0.2, "CIDEr": 0.9}, "bleu:coco|tok:ptb"
        ),
        baseline=report.ModelSummary("baseline", "/m/base", {"Bleu_4": 0.25, "CIDEr": 0.8}, "sig"),
        gate_metric="CIDEr",
        samples=[_sample(tmp_path)],
        context={"eval split": "val"},
    )


def test_report_lists_metrics_deltas_checks_and_escaped_text(tmp_path):
    html = _render(tmp_path)
    assert (
        '<tr class="gate"><td>CIDEr</td><td>0.9000</td><td>0.8000</td><td class="pos">+0.1000'
        in html
    )
    assert '<td>Bleu_4</td><td>0.2000</td><td>0.2500</td><td class="neg">-0.0500' in html
    assert "bleu:coco|tok:ptb" in html and "/m/cand" in html
    assert "a blue photo &lt;b&gt;" in html and "<b>\n" not in html  # references are escaped
    assert "image unavailable" in html  # the missing photo does not break the report
    # One overlay per generated word (4 words, 4 steps) for the photo with attention.
    assert html.count('alt="attention for ') == 4
    assert "candidate CIDEr 0.7500 · baseline CIDEr 0.5000" in html


def test_attention_overlay_heats_the_attended_cell():
    img = Image.new("RGB", (40, 40), (128, 128, 128))
    weights = np.array([0.0, 0.0, 0.0, 1.0])  # bottom-right cell of a 2x2 grid
    out = np.asarray(report.attention_overlay(img, weights, (2, 2)), np.int32)
    hot, cold = out[35, 35], out[4, 4]
    assert hot[0] > cold[0] + 100  # red channel
    assert hot[1] > cold[1] + 100  # yellow at the peak
    assert out.shape == (40, 40, 3)


def test_report_renders_in_headless_chromium(tmp_path):
    assert shutil.which(CHROMIUM), "chromium missing: run `make system-deps`"
    page = tmp_path / "report.html"
    report.write_report(str(page), _render(tmp_path, blessed=False))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chrome'}",
            f"--screenshot={shot}",
            "--window-size=1000,1400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"), np.int32)
    non_white = (pixels.sum(axis=-1) < 720).mean()
    assert non_white > 0.02, f"screenshot is blank ({non_white:.3%} non-white)"
    # The red NOT BLESSED badge (#b3261e) and the blue thumbnail were painted.
    assert (np.abs(pixels - [179, 38, 30]).sum(axis=-1) < 30).sum() > 200
    assert (np.abs(pixels - [30, 60, 200]).sum(axis=-1) < 40).sum() > 200


def test_thumbnails_use_the_shared_decoder(tmp_path):
    """EXIF-rotated photos upright and 16-bit photos scaled, as the model saw them."""
    upright = np.zeros((90, 120, 3), np.uint8)
    upright[:, :60] = (255, 0, 0)  # left half red, right half blue
    upright[:, 60:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: displayed after a 90-degree clockwise turn
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / "rot.jpg", "JPEG", quality=95, exif=exif.tobytes()
    )
    rot = report.thumbnail(str(tmp_path / "rot.jpg"))
    assert rot.size == (120, 90)  # as displayed: wider than tall
    pixels = np.asarray(rot, np.int32)
    assert np.abs(pixels[:, :50] - (255, 0, 0)).max() <= 40
    assert np.abs(pixels[:, 70:] - (0, 0, 255)).max() <= 40

    Image.fromarray(np.full((90, 120), 0x8080, np.uint16)).save(tmp_path / "deep.png")
    deep = report.thumbnail(str(tmp_path / "deep.png"))
    assert deep.mode == "RGB" and (np.asarray(deep) == 128).all()  # convert("RGB") gave 255
