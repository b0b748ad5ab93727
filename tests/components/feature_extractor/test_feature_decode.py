"""DecodeImages goes through the shared decoder: every format gives PIL's oriented pixels."""

from __future__ import annotations

import io
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from components.feature_extractor import transforms as fxt
from vistflow import backbones as bb
from vistflow import images as vi

SIZE = 32


def _photo(w: int = 80, h: int = 48) -> np.ndarray:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 3, y * 5, (x + y) * 2], -1) + rng.normal(0, 15, (h, w, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _save(path: Path, im: Image.Image, fmt: str, **kwargs) -> str:
    im.save(path, fmt, **kwargs)
    return str(path)


def _exif(orientation: int) -> Image.Exif:
    tags = Image.Exif()
    tags[vi.ORIENTATION_TAG] = orientation
    return tags


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("decode")
    rgb = Image.fromarray(_photo())
    grey16 = (np.asarray(rgb.convert("L"), np.uint16) * 251 + 37).astype("<u2")
    return {
        "png16": _save(d / "grey16.png", Image.fromarray(grey16, "I;16"), "PNG"),
        "cmyk": _save(d / "cmyk.jpg", rgb.convert("CMYK"), "JPEG", quality=90),
        "palette": _save(d / "palette.png", rgb.convert("P"), "PNG"),
        "webp": _save(d / "photo.webp", rgb, "WEBP", quality=85),
        "tiff": _save(d / "photo.tiff", rgb, "TIFF"),
        "exif6": _save(d / "phone.jpg", rgb, "JPEG", quality=90, exif=_exif(6)),
    }


# graph-native files are decoded from their own bytes; the others via a PNG of PIL's pixels
CONVERTED = ("cmyk", "webp", "tiff")


def _expected(path: str) -> np.ndarray:
    """What the model must see: PIL's oriented RGB8 pixels, resized by the shared resize."""
    import tensorflow as tf

    pixels = vi.decode_pil(Path(path).read_bytes())
    return tf.image.resize(
        tf.cast(pixels, tf.float32), [SIZE, SIZE], method="bilinear", antialias=True
    ).numpy()


@pytest.mark.parametrize("kind", ["png16", "cmyk", "palette", "webp", "tiff", "exif6"])
def test_decode_images_gives_the_pil_pixels_for_every_format(files, kind):
    uri = files[kind]
    expected = _expected(uri)

    def check(items):
        [(got_uri, image)] = items
        assert got_uri == uri
        np.testing.assert_array_equal(image.pixels, expected)

    with test_pipeline.TestPipeline() as p:
        decoded = p | beam.Create([uri]) | fxt.DecodeImages(SIZE)
        assert_that(decoded.images, check, label="pixels")
        assert_that(decoded.failed, equal_to([]), label="failed")
        assert_that(
            decoded.converted, equal_to([uri] if kind in CONVERTED else []), label="converted"
        )


def test_sixteen_bit_png_stays_grey(files):
    pixels = vi.decode_pil(Path(files["png16"]).read_bytes())
    # The source grey is ~0..255 * 251 + 37: scaled by 257 it stays below ~250, never all white.
    assert 60 < pixels.mean() < 200 and (pixels < 250).all()


def test_exif_rotated_photo_gives_the_features_of_the_upright_photo(files, tmp_path):
    """The phone JPEG (Orientation=6) decodes like its upright pixels saved losslessly."""
    data = Path(files["exif6"]).read_bytes()
    upright = Image.fromarray(vi.decode_pil(data))
    assert upright.size == (48, 80)  # 80x48 stored sideways, shown rotated
    upright_png = _save(tmp_path / "upright.png", upright, "PNG")
    untagged = Image.open(io.BytesIO(data))
    untagged.info.pop("exif")
    sideways = _save(tmp_path / "sideways.png", Image.fromarray(np.asarray(untagged)), "PNG")
    ours = bb.decode_image(data, SIZE).numpy()
    np.testing.assert_array_equal(ours, bb.decode_image(Path(upright_png).read_bytes(), SIZE))
    assert np.abs(ours - bb.decode_image(Path(sideways).read_bytes(), SIZE)).mean() > 10


def test_backbones_decode_image_is_the_shared_decoder(files):
    data = Path(files["exif6"]).read_bytes()
    np.testing.assert_array_equal(
        bb.decode_image(data, SIZE).numpy(), vi.decode_image(data, SIZE).numpy()
    )
    assert vi.graph_ready_bytes(Path(files["webp"]).read_bytes()).startswith(b"\x89PNG")


def test_a_file_above_the_byte_limit_fails_without_being_read_whole(tmp_path):
    """Ingest checked it, but a file can be replaced before extraction: read at most the limit."""
    huge = tmp_path / "grown.jpg"
    with open(huge, "wb") as f:
        f.truncate(vi.DEFAULT_MAX_BYTES + 4096)  # sparse: no disk, but more than the limit

    with test_pipeline.TestPipeline() as p:
        decoded = p | beam.Create([str(huge)]) | fxt.DecodeImages(SIZE)
        assert_that(decoded.images, equal_to([]), label="images")
        assert_that(
            decoded.failed | beam.MapTuple(lambda uri, reason: (uri, reason.split(":")[0])),
            equal_to([(str(huge), "too_large")]),
            label="failed",
        )
