"""image_check: every verdict on real encoded bytes (no Beam)."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from components.vist_example_gen import reasons
from components.vist_example_gen.image_check import (
    ImageLimits,
    check_image_bytes,
    check_image_file,
    configure_pil,
)

from .conftest import image_bytes

LIMITS = ImageLimits(max_pixels=1_000_000, max_aspect=20.0)


@pytest.fixture(autouse=True)
def _pil_limits():
    previous = Image.MAX_IMAGE_PIXELS
    configure_pil(LIMITS)
    yield
    Image.MAX_IMAGE_PIXELS = previous


def check(data: bytes, limits: ImageLimits = LIMITS):
    return check_image_bytes(data, split="train", photo_id="p1", uri="/x/p1.jpg", limits=limits)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (its data is a few bytes): a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "JPEG"),
        ("L", "JPEG"),
        ("CMYK", "JPEG"),
        ("RGBA", "PNG"),
        ("P", "GIF"),
        ("I;16", "PNG"),
    ],
)
def test_every_mode_is_accepted_and_recorded(mode, fmt):
    result = check(image_bytes(mode, (40, 30), fmt))
    assert result.ok, result.detail
    assert (result.mode, result.format, result.width, result.height) == (mode, fmt, 40, 30)
    assert result.thumbnail == ""  # thumbnails only for rejected images


def test_png_with_jpg_extension_is_judged_by_content():
    result = check_image_bytes(
        image_bytes("RGB", fmt="PNG"), split="val", photo_id="p", uri="/a/p.jpg", limits=LIMITS
    )
    assert result.ok and result.format == "PNG"


def test_truncated_jpeg_is_undecodable_with_a_partial_thumbnail():
    data = image_bytes("RGB", (200, 150))
    sos = data.index(b"\xff\xda")
    result = check(data[: sos + (len(data) - sos) // 2])
    assert result.reason == reasons.UNDECODABLE
    assert "truncated" in result.detail
    assert (result.width, result.height) == (200, 150)  # the header still read
    thumb = Image.open(io.BytesIO(base64.b64decode(result.thumbnail)))
    assert thumb.format == "JPEG" and max(thumb.size) <= 96


def test_truncation_tolerance_does_not_leak_into_later_checks():
    data = image_bytes("RGB", (200, 150))
    truncated = data[: len(data) // 2]
    assert check(truncated).reason == reasons.UNDECODABLE
    assert check(truncated).reason == reasons.UNDECODABLE  # the lenient thumbnail pass reset PIL


def test_truncated_png_is_undecodable():
    data = image_bytes("RGB", (120, 90), "PNG")
    assert check(data[: len(data) // 2]).reason == reasons.UNDECODABLE


def test_html_error_page_is_not_an_image():
    page = b"<!DOCTYPE html><html><title>Flickr: Page Not Found</title></html>"
    result = check(page)
    assert result.reason == reasons.NOT_AN_IMAGE
    # Its kind and size, never its content (a report must not echo a user's files).
    assert result.detail == f"not a recognised image format: HTML text ({len(page)} bytes)"


def test_zero_bytes_is_empty_file():
    assert check(b"").reason == reasons.EMPTY_FILE


def test_decompression_bomb_is_too_large_without_decoding():
    # 60000^2 is past 2x max_pixels: PIL itself refuses at open().
    result = check(png_claiming(60_000, 60_000))
    assert result.reason == reasons.TOO_LARGE
    assert "3600000000 pixels > max_pixels 1000000" in result.detail


def test_pixel_limit_between_one_and_two_times_is_too_large():
    result = check(png_claiming(1200, 1000))  # 1.2 Mpx: PIL only warns here
    assert result.reason == reasons.TOO_LARGE
    assert (result.width, result.height) == (1200, 1000)


def test_pixel_limit_is_an_option():
    data = image_bytes("RGB", (40, 30))
    assert check(data, ImageLimits(max_pixels=40 * 30)).ok
    assert check(data, ImageLimits(max_pixels=40 * 30 - 1)).reason == reasons.TOO_LARGE


def test_absurd_aspect_ratio_is_too_large():
    result = check(image_bytes("RGB", (420, 20)))
    assert result.reason == reasons.TOO_LARGE and "aspect ratio 21.0" in result.detail
    assert check(image_bytes("RGB", (400, 20))).ok


def test_missing_and_unreadable_files(tmp_path):
    missing = check_image_file(
        None, split="test", photo_id="42", limits=LIMITS, expected_location="/r/images/test/42.*"
    )
    assert missing.reason == reasons.MISSING_IMAGE and "/r/images/test/42.*" in missing.detail
    gone = check_image_file(str(tmp_path / "gone.jpg"), split="test", photo_id="g", limits=LIMITS)
    assert gone.reason == reasons.MISSING_IMAGE
    good = tmp_path / "good.jpg"
    good.write_bytes(image_bytes())
    ok = check_image_file(str(good), split="test", photo_id="good", limits=LIMITS)
    assert ok.ok and ok.uri == str(good) and ok.n_bytes == good.stat().st_size


# ---- the shared decoder (vistflow.images) ------------------------------------------------------


def test_limits_and_reasons_are_the_shared_ones():
    from vistflow import images

    assert ImageLimits is images.ImageLimits and ImageLimits().max_aspect == 20.0
    strip = image_bytes("RGB", (420, 20))
    with pytest.raises(images.ImageError) as caught:
        images.check_header(strip, LIMITS)
    assert check(strip).detail == caught.value.detail  # one wording for every stage


@pytest.mark.parametrize(
    ("fmt", "mode"), [("WEBP", "RGB"), ("TIFF", "RGB"), ("TIFF", "CMYK"), ("BMP", "P")]
)
def test_formats_only_pil_reads_are_accepted(fmt, mode):
    result = check(image_bytes(mode, (40, 30), fmt))
    assert result.ok, result.detail
    assert (result.format, result.mode, result.width, result.height) == (fmt, mode, 40, 30)


def _exif_jpeg(size: tuple[int, int], orientation: int) -> bytes:
    tags = Image.Exif()
    tags[0x0112] = orientation
    rgb = Image.open(io.BytesIO(image_bytes("RGB", size, "PNG")))
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", exif=tags)
    return buf.getvalue()


def test_exif_rotated_photo_is_recorded_as_stored_and_its_thumbnail_is_upright():
    data = _exif_jpeg((200, 150), 6)
    ok = check(data)
    assert ok.ok and (ok.width, ok.height) == (200, 150)  # the header's size, as stored
    sos = data.index(b"\xff\xda")
    broken = check(data[: sos + (len(data) - sos) // 2])
    assert broken.reason == reasons.UNDECODABLE
    thumb = Image.open(io.BytesIO(base64.b64decode(broken.thumbnail)))
    assert thumb.size == (72, 96)  # portrait: turned as the phone meant (untagged: 96x72)


def test_sixteen_bit_thumbnail_is_grey_not_white():
    from components.vist_example_gen.image_check import thumbnail_jpeg

    grey = Image.fromarray(np.full((30, 40), 0x8080, np.uint16).astype("<u2"), "I;16")
    thumb = Image.open(io.BytesIO(base64.b64decode(thumbnail_jpeg(grey))))
    assert abs(float(np.asarray(thumb).mean()) - 128) < 3  # convert("RGB") would give 255
