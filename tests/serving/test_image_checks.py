"""Header-only image checks: formats, sizes and junk, without decoding pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from serving.images import ImageCheckError, check_image
from serving.testing import png_claiming_size as png_header


def _encoded(fmt: str, size=(20, 10), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "P") else (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, mode", [("PNG", "RGB"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("PNG", "L")]
)
def test_real_images_report_their_size(fmt, mode):
    assert check_image(_encoded(fmt, (20, 10), mode)) == (20, 10)


def test_size_comes_from_the_header_alone():
    assert check_image(png_header(640, 480)) == (640, 480)


def test_too_many_pixels_is_rejected_with_the_numbers():
    with pytest.raises(ImageCheckError, match=r"9000x5000 = 45000000 pixels.*limit of 40000000"):
        check_image(png_header(9000, 5000), max_pixels=40_000_000)
    # Beyond PIL's own bomb limit the header is refused before the size is known.
    with pytest.raises(ImageCheckError, match="limit of 40000000 pixels"):
        check_image(png_header(30000, 20000), max_pixels=40_000_000)
    with pytest.raises(ImageCheckError, match="limit of 1000"):
        check_image(png_header(100, 11), max_pixels=1000)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty image"),
        (b"hello, I am text", "format the server recognises"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a"),
        (b"\xff\xd8\xff", "not a"),
    ],
)
def test_junk_is_rejected_with_a_reason(data, reason):
    with pytest.raises(ImageCheckError, match=reason):
        check_image(data)
