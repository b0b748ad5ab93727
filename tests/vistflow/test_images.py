"""vistflow.images: the same file gives the same pixels through PIL and through the graph."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps

from vistflow import images as vi

W, H = 80, 48  # non-square, so a wrong rotation changes the shape, not just the pixels


def photo(seed: int = 0, w: int = W, h: int = H) -> np.ndarray:
    """Photo-like uint8 RGB: gradients, texture and noise (JPEG has real work to do)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([x / w * 220, y / h * 200, (x + y) / (w + h) * 255], -1)
    base += 30 * np.sin(x / 5)[..., None] * np.cos(y / 7)[..., None]
    base += rng.normal(0, 18, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def exif(orientation: int, endian: str = "<") -> Image.Exif:
    tags = Image.Exif()
    tags.endian = endian
    tags[vi.ORIENTATION_TAG] = orientation
    return tags


@pytest.fixture(scope="module")
def graph_decode():
    import tensorflow as tf

    return tf.function(vi.decode_pixels, input_signature=[tf.TensorSpec([], tf.string)])


def graph(graph_decode, data: bytes) -> np.ndarray:
    return graph_decode(data).numpy()


# ------------------------------------------------------------------------ EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_exif_orientation_gives_the_same_pixels_every_way(graph_decode, orientation, mode, endian):
    data = encode(
        Image.fromarray(photo()).convert(mode), "JPEG", quality=90, exif=exif(orientation, endian)
    )
    assert (b"MM\x00*" if endian == ">" else b"II*\x00") in data  # both byte orders really tested
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert reference.shape == ((H, W, 3) if orientation <= 4 else (W, H, 3))
    pil = vi.decode_pil(data)
    np.testing.assert_array_equal(pil, reference)
    # Graph-native: passed through unchanged, the graph reads the tag and orients itself.
    assert vi.graph_ready_bytes(data) is data
    assert vi.jpeg_exif_orientation(data) == orientation
    np.testing.assert_array_equal(graph(graph_decode, data), reference)


def test_phone_photo_decodes_upright_and_the_untagged_sideways_file_does_not(graph_decode):
    upright = photo(3)
    # A phone stores the sensor's sideways pixels and tags Orientation=6 ("rotate 90 clockwise").
    sideways = Image.fromarray(np.rot90(upright, 1))
    tagged = encode(sideways, "JPEG", quality=95, exif=exif(6))
    untagged = encode(sideways, "JPEG", quality=95)
    stored = graph(graph_decode, untagged)  # same JPEG scan data, no tag
    assert stored.shape == (W, H, 3)
    for pixels in (vi.decode_pil(tagged), graph(graph_decode, tagged)):
        assert pixels.shape == (H, W, 3)
        np.testing.assert_array_equal(pixels, np.rot90(stored, -1))
    # JPEG is lossy (and the photo noisy): the content is near the original the right way up,
    # far from it upside down.
    decoded = graph(graph_decode, tagged).astype(int)
    right, wrong = np.abs(decoded - upright).mean(), np.abs(decoded - upright[::-1, ::-1]).mean()
    assert right < 15 and right * 3 < wrong


# ------------------------------------------------------------------------ every format and mode


def _xmp_orientation(value: int):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", f'<rdf:Description tiff:Orientation="{value}"/>')
    return info


def _cases() -> dict[str, tuple[bytes, bool]]:
    """name -> (file bytes, whether the graph decodes the raw bytes as PIL does)."""
    rgb = Image.fromarray(photo(1))
    grey = rgb.convert("L")
    wide = (np.asarray(grey, np.uint16) * 251 + 37).astype("<u2")  # real 16-bit values
    rgba = rgb.copy()
    rgba.putalpha(grey)
    cmyk = rgb.convert("CMYK")
    return {
        "jpeg_rgb": (encode(rgb, "JPEG", quality=85), True),
        "jpeg_grey": (encode(grey, "JPEG", quality=85), True),
        "jpeg_progressive_420": (encode(rgb, "JPEG", progressive=True, subsampling=2), True),
        "jpeg_cmyk": (encode(cmyk, "JPEG", quality=90), False),
        "jpeg_cmyk_exif6": (encode(cmyk, "JPEG", quality=90, exif=exif(6)), False),
        "png_rgb": (encode(rgb, "PNG"), True),
        "png_grey": (encode(grey, "PNG"), True),
        "png_bilevel": (encode(grey.point(lambda v: 255 * (v > 120)).convert("1"), "PNG"), True),
        "png16_grey": (encode(Image.fromarray(wide, "I;16"), "PNG"), True),
        "png_palette": (encode(rgb.convert("P"), "PNG"), True),
        "png_palette_transparent": (encode(rgb.convert("P"), "PNG", transparency=7), True),
        "png_rgba": (encode(rgba, "PNG"), True),
        "png_grey_alpha": (
            encode(Image.merge("LA", [grey, grey.point(lambda v: 255 - v)]), "PNG"),
            True,
        ),
        "png_exif6": (encode(rgb, "PNG", exif=exif(6)), False),
        "png_xmp6": (encode(rgb, "PNG", pnginfo=_xmp_orientation(6)), False),
        "webp_lossless": (encode(rgb, "WEBP", lossless=True), False),
        "webp_lossy": (encode(rgb, "WEBP", quality=80), False),
        "webp_exif8": (encode(rgb, "WEBP", quality=80, exif=exif(8)), False),
        "tiff_rgb": (encode(rgb, "TIFF"), False),
        "tiff_cmyk": (encode(cmyk, "TIFF"), False),
        "tiff16_grey": (encode(Image.fromarray(wide, "I;16"), "TIFF"), False),
        "tiff_exif6": (encode(rgb, "TIFF", exif=exif(6)), False),
        "gif": (encode(rgb.convert("P"), "GIF"), False),
        "bmp_rgb": (encode(rgb, "BMP"), False),
        "bmp_palette": (encode(rgb.convert("P"), "BMP"), False),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_file_same_pixels_through_each_path(graph_decode, name):
    data, native = CASES[name]
    pil = vi.decode_pil(data)
    assert pil.dtype == np.uint8 and pil.ndim == 3 and pil.shape[2] == 3
    ready = vi.graph_ready_bytes(data)
    assert (ready is data) == native
    if not native:
        assert ready.startswith(b"\x89PNG")  # lossless re-encode of the PIL pixels
    np.testing.assert_array_equal(graph(graph_decode, ready), pil)
    if native:
        np.testing.assert_array_equal(graph(graph_decode, data), pil)
    rotated = any(tag in name for tag in ("exif6", "exif8", "xmp6"))
    assert pil.shape[:2] == ((W, H) if rotated else (H, W))


def test_sixteen_bit_png_is_scaled_not_clipped(graph_decode):
    values = np.full((H, W), 0x8080, np.uint16)  # mid grey in 16 bits: 32896 / 257 = 128
    values[:, : W // 2] = 1000  # dark: 3.9 -> 4
    data = encode(Image.fromarray(values.astype("<u2"), "I;16"), "PNG")
    for pixels in (vi.decode_pil(data), graph(graph_decode, data)):
        assert set(np.unique(pixels)) == {4, 128}  # PIL's convert("RGB") would give 255
    # Every 16-bit value maps to round(x / 257) on both paths.
    ramp = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    data = encode(Image.fromarray(ramp.astype("<u2"), "I;16"), "PNG")
    expected = np.round(ramp / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(vi.decode_pil(data)[..., 0], expected)
    np.testing.assert_array_equal(graph(graph_decode, data)[..., 0], expected)


def test_sixteen_bit_colour_png_differs_by_at_most_one_level(graph_decode):
    """PIL reads 48-bit PNGs truncated (x >> 8); the graph rounds. Measured: 1 level at most."""
    import tensorflow as tf

    values = np.random.default_rng(5).integers(0, 65536, (H, W, 3)).astype(np.uint16)
    data = tf.io.encode_png(values).numpy()
    ours = graph(graph_decode, data)
    np.testing.assert_array_equal(ours, (values.astype(np.int64) + 128) // 257)
    assert vi.graph_ready_bytes(data) is data  # the model always sees the rounded pixels
    diff = np.abs(vi.decode_pil(data).astype(int) - ours)
    assert diff.max() == 1 and diff.mean() < 0.6


def test_jpeg_default_dct_would_not_match_pil(graph_decode):
    """Why decode_pixels asks for INTEGER_ACCURATE: TF's default DCT is off by many levels."""
    import tensorflow as tf

    data = CASES["jpeg_rgb"][0]
    fast = tf.io.decode_jpeg(data, channels=3).numpy().astype(int)
    assert np.abs(fast - vi.decode_pil(data)).max() > 2
    np.testing.assert_array_equal(graph(graph_decode, data), vi.decode_pil(data))


def test_decode_image_resizes_the_oriented_pixels(graph_decode):
    import tensorflow as tf

    data = encode(Image.fromarray(photo(2)), "JPEG", quality=90, exif=exif(6))
    out = vi.decode_image(data, 32).numpy()
    assert out.dtype == np.float32 and out.shape == (32, 32, 3)
    expected = tf.image.resize(
        tf.cast(vi.decode_pil(data), tf.float32), [32, 32], method="bilinear", antialias=True
    ).numpy()
    np.testing.assert_array_equal(out, expected)


# ------------------------------------------------------------------------ tricky JPEG headers


def _splice(jpeg: bytes, *segments: bytes) -> bytes:
    """Insert raw marker segments right after SOI."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _exif_payload(
    entries: list[tuple[int, int, int, bytes]], order: bytes = b"II", extra: bytes = b""
) -> bytes:
    """Exif APP1 payload with IFD0 `entries` of (tag, type, count, 4 value bytes) + `extra`."""
    bo = "little" if order == b"II" else "big"
    body = order + (42).to_bytes(2, bo) + (8).to_bytes(4, bo) + len(entries).to_bytes(2, bo)
    for tag, kind, count, value in entries:
        body += tag.to_bytes(2, bo) + kind.to_bytes(2, bo) + count.to_bytes(4, bo) + value
    return b"Exif\0\0" + body + b"\0\0\0\0" + extra


def _headers() -> dict[str, tuple[bytes, int]]:
    """name -> (JPEG bytes, the orientation the graph reads)."""
    plain = encode(Image.fromarray(photo(4)), "JPEG", quality=90)
    six = (6).to_bytes(2, "little") + b"\0\0"
    orientation6 = _segment(0xE1, _exif_payload([(0x0112, 3, 1, six)]))
    make = (0x010F, 2, 4, b"ACME")
    xmp = b'http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description tiff:Orientation="6"/>'
    # PIL joins the payloads of consecutive Exif segments; the graph reads the first one only.
    first = _exif_payload([make, (0x0112, 3, 1, six)])[:-16]
    split = _segment(0xE1, first) + _segment(
        0xE1, b"Exif\0\0" + _exif_payload([(0x0112, 3, 1, six)])[-16:]
    )
    return {
        "after_a_big_app2": (_splice(plain, _segment(0xE2, b"\0" * 60000), orientation6), 6),
        "fill_bytes_before_markers": (_splice(plain, b"\xff\xff\xff", orientation6), 6),
        "long_type": (
            _splice(
                plain, _segment(0xE1, _exif_payload([(0x0112, 4, 1, (3).to_bytes(4, "little"))]))
            ),
            3,
        ),
        "third_entry": (
            _splice(
                plain,
                _segment(0xE1, _exif_payload([make, (0x0110, 2, 4, b"Cam1"), (0x0112, 3, 1, six)])),
            ),
            6,
        ),
        "big_endian": (
            _splice(plain, _segment(0xE1, _exif_payload([(0x0112, 3, 1, b"\0\x08\0\0")], b"MM"))),
            8,
        ),
        "out_of_range_value": (
            _splice(plain, _segment(0xE1, _exif_payload([(0x0112, 3, 1, b"\x09\0\0\0")]))),
            1,
        ),
        "count_two": (_splice(plain, _segment(0xE1, _exif_payload([(0x0112, 3, 2, six)]))), 6),
        # Three SHORTs do not fit in the entry: they sit at offset 8 + 2 + 12 + 4 = 26.
        "count_three_at_an_offset": (
            _splice(
                plain,
                _segment(
                    0xE1,
                    _exif_payload(
                        [(0x0112, 3, 3, (26).to_bytes(4, "little"))], extra=b"\x05\0\x01\0\x01\0"
                    ),
                ),
            ),
            5,
        ),
        "count_zero": (_splice(plain, _segment(0xE1, _exif_payload([(0x0112, 3, 0, six)]))), 1),
        "exif_split_over_two_segments": (_splice(plain, split), 1),
        "xmp_only": (_splice(plain, _segment(0xE1, xmp)), 1),
        "no_exif": (plain, 1),
    }


HEADERS = _headers()


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_tricky_headers_end_in_the_same_pixels(graph_decode, name):
    import tensorflow as tf

    data, expected = HEADERS[name]
    # The graph's parse and its Python mirror agree on every header.
    assert int(vi._jpeg_orientation_graph(tf.constant(data)).numpy()) == expected
    assert vi.jpeg_exif_orientation(data) == expected
    # Where PIL sees another orientation (here: joined Exif segments), the bytes are re-encoded;
    # either way the model gets PIL's pixels.
    applied = vi.pil_orientation(Image.open(io.BytesIO(data)))
    assert (applied != expected) == (name == "exif_split_over_two_segments")
    ready = vi.graph_ready_bytes(data)
    assert (ready is data) == (applied == expected)
    pil = vi.decode_pil(data)
    np.testing.assert_array_equal(graph(graph_decode, ready), pil)
    assert pil.shape[:2] == ((W, H) if applied > 4 else (H, W))


# ------------------------------------------------------------------------ header check, limits


def test_header_check_reasons_and_limits():
    good = encode(Image.fromarray(photo()), "PNG")
    assert vi.check_header(good) == vi.ImageHeader(W, H, "PNG", "RGB")
    cases = [
        (b"", vi.EMPTY_FILE, "0 bytes"),
        (b"<!DOCTYPE html><html>", vi.NOT_AN_IMAGE, "HTML text (21 bytes)"),
        (b"\x89PNG\r\n\x1a\n\0\0", vi.NOT_AN_IMAGE, "PNG signature"),  # PIL: no broken header
    ]
    for data, reason, fragment in cases:
        with pytest.raises(vi.ImageError) as caught:
            vi.check_header(data)
        assert caught.value.reason == reason and fragment in caught.value.detail
    with pytest.raises(vi.ImageError, match="3840 pixels > max_pixels 3839") as caught:
        vi.check_header(good, vi.ImageLimits(max_pixels=W * H - 1))
    assert caught.value.reason == vi.TOO_LARGE and caught.value.limit == "max_pixels"
    assert caught.value.header == vi.ImageHeader(W, H, "PNG", "RGB")
    strip = encode(Image.new("RGB", (210, 10)), "PNG")
    with pytest.raises(vi.ImageError, match="aspect ratio 21.0 > max_aspect 20.0") as caught:
        vi.graph_ready_bytes(strip, vi.ImageLimits())
    assert caught.value.limit == "max_aspect"
    assert vi.graph_ready_bytes(strip) is strip  # no limits asked for


def test_truncated_files_are_undecodable_with_verify_or_when_converted():
    jpeg = CASES["jpeg_rgb"][0]
    cut = jpeg[: len(jpeg) * 2 // 3]
    assert vi.graph_ready_bytes(cut) is cut  # header-only by default: the model will fail it
    for call in (lambda: vi.graph_ready_bytes(cut, verify=True), lambda: vi.decode_pil(cut)):
        with pytest.raises(vi.ImageError) as caught:
            call()
        assert caught.value.reason == vi.UNDECODABLE and caught.value.header.width == W
    webp = CASES["webp_lossy"][0]
    with pytest.raises(vi.ImageError, match="") as caught:
        vi.graph_ready_bytes(webp[: len(webp) // 2])
    assert caught.value.reason == vi.UNDECODABLE


def test_unrecognised_files_are_described_without_their_content():
    """Details end up in reports: a kind and a size, never the bytes (a link to /etc/passwd)."""
    passwd = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
    cases = {
        passwd: "text",
        b"0123456789" + "é a photo caption\n".encode() * 300: "text",  # é cut at byte 4096
        bytes(range(256)) * 4: "binary data",
        b"  <?xml version='1.0'?><svg/>": "XML text",
        b"%PDF-1.7\n%\xe2\xe3": "PDF document",
        b"PK\x03\x04\x14\0": "ZIP archive",
        b"\0\0\0\x18ftypheic\0\0": "ISO media (HEIC/AVIF/MP4...)",
        b'{"photo": 1}': "JSON text",
    }
    for data, kind in cases.items():
        with pytest.raises(vi.ImageError) as caught:
            vi.check_header(data)
        detail = caught.value.detail
        assert caught.value.reason == vi.NOT_AN_IMAGE
        assert detail == f"not a recognised image format: {kind} ({len(data)} bytes)"
        assert "root:" not in detail and "photo" not in detail


def test_read_bounded_reads_at_most_one_byte_past_the_limit():
    class Counting(io.BytesIO):
        asked = 0

        def read(self, n=-1):
            out = super().read(2 if n < 0 else min(n, 2))  # a stream that returns short reads
            Counting.asked += len(out)
            return out

    assert vi.read_bounded(Counting(b"12345"), 5) == b"12345"
    Counting.asked = 0
    with pytest.raises(vi.FileTooLarge, match="more than max_bytes 5 bytes"):
        vi.read_bounded(Counting(b"x" * 1000), 5)
    assert Counting.asked == 6
    assert vi.ImageLimits().max_bytes == vi.DEFAULT_MAX_BYTES == 50 * 2**20


def test_read_file_reads_the_bytes_as_stored_and_stops_past_the_limit(tmp_path):
    """The one read every Beam stage makes of an image file: a photo named *.gz is not
    gunzipped, a file above max_bytes is refused, the reported size is the file's."""
    import gzip

    from vistflow import image_limits

    stored = gzip.compress(b"not what is read")
    path = tmp_path / "photo.jpg.gz"
    path.write_bytes(stored)
    assert image_limits.read_file(str(path), 1000) == stored
    assert image_limits.reported_size(str(path)) == len(stored)
    assert image_limits.reported_size(str(tmp_path / "missing.jpg")) is None
    with pytest.raises(vi.FileTooLarge):
        image_limits.read_file(str(path), len(stored) - 1)
    with pytest.raises(FileNotFoundError):
        image_limits.read_file(str(tmp_path / "missing.jpg"), 1000)


def test_reason_codes_are_ingests():
    from components.vist_example_gen import reasons

    assert (vi.EMPTY_FILE, vi.NOT_AN_IMAGE, vi.UNDECODABLE, vi.TOO_LARGE) == (
        reasons.EMPTY_FILE,
        reasons.NOT_AN_IMAGE,
        reasons.UNDECODABLE,
        reasons.TOO_LARGE,
    )


# ------------------------------------------------------------------------ the graph stands alone


def test_saved_graph_has_no_python_ops_and_runs_after_reload(tmp_path):
    import tensorflow as tf

    class Decoder(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def decode(self, images):
            return tf.map_fn(
                lambda b: vi.decode_image(b, 16),
                images,
                fn_output_signature=tf.TensorSpec([16, 16, 3], tf.float32),
            )

    module = Decoder()
    concrete = module.decode.get_concrete_function()
    ops = {op.type for op in concrete.graph.get_operations()}
    for fn in concrete.graph._functions.values():
        ops |= {node.op for node in fn.definition.node_def}
    assert not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}
    assert {"DecodeJpeg", "DecodePng", "DecodeRaw"} <= ops
    assert ops & {"While", "StatelessWhile"}  # the bounded marker walk
    tf.saved_model.save(module, str(tmp_path / "m"))
    reloaded = tf.saved_model.load(str(tmp_path / "m"))
    batch = [HEADERS["third_entry"][0], CASES["png16_grey"][0]]
    expected = [vi.decode_image(b, 16).numpy() for b in batch]
    np.testing.assert_array_equal(reloaded.decode(tf.constant(batch)).numpy(), np.stack(expected))


def test_module_imports_no_stage_package_and_no_tensorflow():
    code = (
        "import sys, vistflow.images\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'components', 'serving', 'trainer', 'pipelines', 'tensorflow'})\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
