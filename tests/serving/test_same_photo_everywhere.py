"""One photo, one caption: `caption`, `story`, the REST server and batch-caption decode alike.

The toy captioner names where the brightest cell of a 4x4 grid is, so its caption depends on
the pixel layout: a phone photo stored sideways with EXIF Orientation=6 must be captioned as the
upright photo, and the same pixels without the tag must not. Every other format (16-bit PNG,
CMYK JPEG, palette PNG, WebP, TIFF) must get the caption of its shared PIL decode everywhere.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from PIL import Image

from commands.main import main as cli_main
from serving import batch_caption as bc
from serving.publish import publish
from vistflow import images as vi

W, H = 80, 48
FORMATS = ("grey16.png", "cmyk.jpg", "palette.png", "photo.webp", "photo.tiff")
EXIF_FILES = ("upright.png", "upright.jpg", "phone.jpg", "sideways.jpg")


def upright_photo() -> np.ndarray:
    """Dark blue, textured, with a bright patch in the top-left cell of the 4x4 grid."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([20 + x // 8, 30 + y // 6, 90 + (x + y) // 10], -1)
    rgb = rgb + rng.integers(-8, 9, (H, W, 3))
    rgb[1:11, 2:18] = (250, 245, 235)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _save(folder: Path, name: str, im: Image.Image, fmt: str, **kwargs) -> None:
    im.save(folder / name, fmt, **kwargs)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """The toy captioner whose captions say where the bright spot is (layout-sensitive)."""
    from toy_serving import export_toy_captioner

    return Path(export_toy_captioner(tmp_path_factory.mktemp("toy") / "v1", "v1", spot=True))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    upright = Image.fromarray(upright_photo())
    stored = Image.fromarray(np.rot90(upright_photo(), 1))  # what the phone's sensor wrote
    tags = Image.Exif()
    tags[vi.ORIENTATION_TAG] = 6  # "rotate 90 clockwise to view"
    _save(folder, "upright.png", upright, "PNG")
    _save(folder, "upright.jpg", upright, "JPEG", quality=95)
    _save(folder, "phone.jpg", stored, "JPEG", quality=95, exif=tags)
    _save(folder, "sideways.jpg", stored, "JPEG", quality=95)  # the same pixels, no tag
    grey16 = np.asarray(upright.convert("L"), np.uint16) * 257
    _save(folder, "grey16.png", Image.fromarray(grey16.astype("<u2"), "I;16"), "PNG")
    _save(folder, "cmyk.jpg", upright.convert("CMYK"), "JPEG", quality=95)
    _save(folder, "palette.png", upright.convert("P"), "PNG")
    _save(folder, "photo.webp", upright, "WEBP", quality=90)
    _save(folder, "photo.tiff", upright, "TIFF")
    return folder


@pytest.fixture(scope="module")
def reference(toy, photos) -> dict[str, tuple[str, float]]:
    """name -> (caption, score) of the toy model on a lossless PNG of the shared PIL decode."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(toy)).signatures["serving_default"]
    out = {}
    for path in sorted(photos.iterdir()):
        png = vi.encode_png(vi.decode_pil(path.read_bytes()))
        result = serve(images=tf.constant([png]))
        out[path.name] = (result["captions"].numpy()[0].decode(), float(result["scores"][0]))
    return out


@pytest.fixture(scope="module")
def by_cli(toy, photos) -> dict[str, tuple[str, float]]:
    import contextlib

    paths = [str(photos / name) for name in (*EXIF_FILES, *FORMATS)]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli_main(["caption", "--model", str(toy), *paths, "--json"]) == 0
    return {Path(r["image"]).name: (r["text"], r["score"]) for r in json.loads(buf.getvalue())}


@pytest.fixture(scope="module")
def by_server(toy, photos, tmp_path_factory) -> dict[str, tuple[str, float]]:
    from toy_serving import JsonClient

    from serving.server import ModelServer

    base = tmp_path_factory.mktemp("base")
    publish(toy, base, "toy")
    server = ModelServer(base, "toy", host="127.0.0.1", port=0, poll_seconds=0.2).start()
    try:
        names = [*EXIF_FILES, *FORMATS]
        instances = [
            {"b64": base64.b64encode((photos / n).read_bytes()).decode("ascii")} for n in names
        ]
        status, body = JsonClient(server.url).post(
            "/v1/models/toy:predict", {"instances": instances}
        )
    finally:
        server.stop()
    assert status == 200, body
    return {
        n: (p["captions"], p["scores"]) for n, p in zip(names, body["predictions"], strict=True)
    }


@pytest.fixture(scope="module")
def by_batch(toy, photos, tmp_path_factory) -> dict[str, tuple[str, float]]:
    out = tmp_path_factory.mktemp("batch") / "out"
    argv = ["--model", str(toy), "--input", str(photos / "*"), "--output", str(out)]
    summary = bc.run(argv, save_main_session=False, test_pipeline=BeamTestPipeline())
    assert summary["rejects"] == 0, (out / "rejects.jsonl").read_text()
    rows = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    return {Path(r["path"]).name: (r["caption"], r["score"]) for r in rows}


PATHS = ("by_cli", "by_server", "by_batch")


@pytest.mark.parametrize("path", PATHS)
def test_exif_rotated_photo_gets_the_upright_caption(request, path):
    captions = {name: text for name, (text, _) in request.getfixturevalue(path).items()}
    assert captions["upright.png"] == "v1 a dark blue photo with a bright spot at the top left"
    assert captions["upright.jpg"] == captions["upright.png"]
    assert captions["phone.jpg"] == captions["upright.png"]
    # The same stored pixels without the tag are (rightly) another picture.
    assert captions["sideways.jpg"] == "v1 a dark blue photo with a bright spot at the bottom left"


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_gets_the_caption_of_its_shared_decode_on_every_path(
    reference, by_cli, by_server, by_batch, name
):
    caption, score = reference[name]
    assert caption.endswith("with a bright spot at the top left"), caption
    for results in (by_cli, by_server, by_batch):
        assert results[name][0] == caption
        assert results[name][1] == pytest.approx(score, abs=1e-6)


def test_sixteen_bit_png_is_grey_on_every_path(by_cli, by_server, by_batch):
    """Clipped instead of scaled, the 16-bit photo would be white: "a bright red photo"."""
    for results in (by_cli, by_server, by_batch):
        text, score = results["grey16.png"]
        assert text.startswith("v1 a dark") and score < 0.5


def test_story_of_an_album_of_mixed_formats(toy, photos, reference, tmp_path, capsys):
    album = tmp_path / "album"
    album.mkdir()
    names = ["phone.jpg", "photo.webp", "photo.tiff", "grey16.png", "cmyk.jpg"]
    for i, name in enumerate(names):
        (album / f"{i}_{name}").write_bytes((photos / name).read_bytes())
    assert cli_main(["story", "--model", str(toy), str(album), "--json"]) == 0
    sentences = [row["text"] for row in json.loads(capsys.readouterr().out)]
    expected = [
        f"v1 sentence {i}: " + reference[name][0].removeprefix("v1 ")
        for i, name in enumerate(names, 1)
    ]
    assert sentences == expected
    # PIL's decode is upright too (the score differs a little: JPEG is lossy).
    assert reference["phone.jpg"][0] == reference["upright.png"][0]
