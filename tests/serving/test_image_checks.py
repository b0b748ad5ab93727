"""Header-only image checks: formats, sizes and junk, without decoding pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from toy_serving import png_claiming_size as png_header

from serving.images import ImageCheckError, check_image, prepare_image


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


# --- prepare_image: the bytes the model gets (vistflow.images.graph_ready_bytes) -------------


def _photo(fmt: str, mode: str = "RGB", **kwargs) -> bytes:
    import numpy as np

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, mode", [("JPEG", "RGB"), ("JPEG", "L"), ("PNG", "P"), ("PNG", "RGBA")]
)
def test_graph_native_images_pass_through_untouched(fmt, mode):
    data = _photo(fmt, mode)
    assert prepare_image(data) is data


@pytest.mark.parametrize(
    "fmt, mode", [("WEBP", "RGB"), ("TIFF", "RGB"), ("JPEG", "CMYK"), ("GIF", "P"), ("BMP", "RGB")]
)
def test_other_formats_become_a_png_of_the_shared_decode(fmt, mode):
    import numpy as np

    from vistflow.images import decode_pil

    data = _photo(fmt, mode)
    ready = prepare_image(data)
    assert ready.startswith(b"\x89PNG")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(ready))), decode_pil(data))


def test_exif_orientation_is_kept_for_the_graph_or_applied_before_it():
    tags = Image.Exif()
    tags[0x0112] = 6
    jpeg = _photo("JPEG", exif=tags)
    assert prepare_image(jpeg) is jpeg  # the in-graph decoder reads the tag itself
    png = prepare_image(_photo("PNG", exif=tags))  # it does not read PNG eXIf: applied here
    assert (
        Image.open(io.BytesIO(png)).size == (10, 20)
        and "exif" not in Image.open(io.BytesIO(png)).info
    )


def test_prepare_image_words_errors_for_the_api():
    with pytest.raises(ImageCheckError, match="aspect ratio 25.0, above this server's limit"):
        prepare_image(_encoded("PNG", (250, 10)))
    with pytest.raises(ImageCheckError, match="limit of 100 pixels"):
        prepare_image(_encoded("PNG", (20, 10)), max_pixels=100)
    with pytest.raises(ImageCheckError, match="not a decodable image"):
        webp = _photo("WEBP")
        prepare_image(webp[: len(webp) // 2])
    assert check_image(_encoded("PNG", (250, 10)), max_aspect=30) == (250, 10)
