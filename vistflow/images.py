"""The one image decoder every stage uses: limits, header check, PIL decode, in-graph decode.

Two decoders give the same 8-bit RGB pixels for the same file:
  * `decode_pil` (ingest checks, thumbnails, and formats the graph cannot read): first frame,
    EXIF orientation applied, 16-bit scaled by round(x / 257), alpha dropped, CMYK/P/L to RGB.
  * `decode_pixels` / `decode_image` (pure TF ops, inside the exported SavedModel, so the real
    `tensorflow_model_server` runs it too): JPEG with libjpeg's accurate integer DCT (what PIL
    uses) and the EXIF orientation parsed in the graph, PNG through uint16 and the same rounding.
`graph_ready_bytes` is the bridge: it passes through the files the graph decodes exactly as
PIL does and re-encodes everything else (WebP, TIFF, CMYK JPEG, GIF, BMP, PNG with an eXIf
orientation...) as a lossless PNG of the PIL pixels. Stages feed the model graph-ready bytes.

This module is the shared floor: it imports no stage package, and TensorFlow only inside the
functions that build graph ops.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from vistflow.image_limits import (  # noqa: F401 - re-exported: one module for callers
    DEFAULT_MAX_ASPECT,
    DEFAULT_MAX_BYTES,
    FileTooLarge,
    describe,
    read_bounded,
)
from vistflow.reasons import (  # noqa: F401 - the codes an ImageError carries, re-exported
    EMPTY_FILE,
    NOT_AN_IMAGE,
    TOO_LARGE,
    UNDECODABLE,
)

# PIL's own decompression-bomb threshold (~89.5 Mpx, 0.25 GB as RGB): far above any real VIST
# (Flickr) or COCO photo, far below what would exhaust a worker.
DEFAULT_MAX_PIXELS = 89_478_485

ORIENTATION_TAG = 0x0112
# PIL transposes per EXIF orientation, exactly as ImageOps.exif_transpose maps them.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Bounds of the in-graph EXIF parse (and its Python mirror): marker segments walked before the
# scan data, IFD0 entries looked at. Real headers have ~10 segments and ~15 IFD0 entries.
_MAX_JPEG_SEGMENTS = 256
_MAX_IFD_ENTRIES = 256


@dataclass(frozen=True)
class ImageLimits:
    """What counts as a usable image.

    Args:
      max_pixels: width * height above this is `too_large` (decompression bombs, absurd sizes).
      max_aspect: long side / short side above this is `too_large` too (the model squashes every
        image to a square: a 30000x2 strip would be noise).
      max_bytes: encoded files larger than this are `too_large` before they are read (readers
        check it with `image_limits.read_bounded`; `open_image` gets bytes already read).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_aspect: float = DEFAULT_MAX_ASPECT
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class ImageHeader:
    """What the header says: size, PIL format (JPEG, PNG...) and PIL mode (RGB, CMYK, I;16...)."""

    width: int
    height: int
    format: str
    mode: str


class ImageError(ValueError):
    """Bytes that are not a usable image: `reason` is a reason code, `detail` says why.

    `header` is set when the header was read (too large, undecodable pixels); `limit` names the
    limit that was exceeded ("max_pixels" or "max_aspect") for `too_large`.
    """

    def __init__(
        self, reason: str, detail: str, header: ImageHeader | None = None, limit: str = ""
    ):
        super().__init__(detail)
        self.reason, self.detail, self.header, self.limit = reason, detail, header, limit


# ------------------------------------------------------------------------------ header check


def open_image(data: bytes, limits: ImageLimits | None = None) -> Image.Image:
    """Parse the header only (PIL opens lazily) and check `limits`; ImageError otherwise."""
    if not data:
        raise ImageError(EMPTY_FILE, "empty image (0 bytes)")
    try:
        with warnings.catch_warnings():
            # We apply our own pixel limit; PIL only warns between 1x and 2x its threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        # PIL refuses above 2x Image.MAX_IMAGE_PIXELS before telling us the size.
        found = re.search(r"\((\d+) pixels\)", str(e))
        pixels = found.group(1) if found else "?"
        limit = limits.max_pixels if limits else Image.MAX_IMAGE_PIXELS
        raise ImageError(
            TOO_LARGE,
            f"{pixels} pixels > max_pixels {limit} (decompression-bomb guard)",
            limit="max_pixels",
        ) from e
    except UnidentifiedImageError as e:
        # Never the bytes themselves: details end up in reports (a linked /etc/passwd...).
        raise ImageError(NOT_AN_IMAGE, f"not a recognised image format: {describe(data)}") from e
    except Exception as e:  # noqa: BLE001 - a corrupt header raises anything from SyntaxError up
        raise ImageError(UNDECODABLE, f"header: {type(e).__name__}: {e}") from e
    header = ImageHeader(im.size[0], im.size[1], im.format or "", im.mode)
    if header.width <= 0 or header.height <= 0:
        raise ImageError(UNDECODABLE, f"size {header.width}x{header.height}", header)
    if limits is not None:
        _check_limits(header, limits)
    return im


def _check_limits(header: ImageHeader, limits: ImageLimits) -> None:
    width, height = header.width, header.height
    if width * height > limits.max_pixels:
        raise ImageError(
            TOO_LARGE,
            f"{width}x{height} = {width * height} pixels > max_pixels {limits.max_pixels}",
            header,
            "max_pixels",
        )
    aspect = max(width, height) / min(width, height)
    if aspect > limits.max_aspect:
        raise ImageError(
            TOO_LARGE,
            f"{width}x{height}: aspect ratio {aspect:.1f} > max_aspect {limits.max_aspect}",
            header,
            "max_aspect",
        )


def check_header(data: bytes, limits: ImageLimits | None = None) -> ImageHeader:
    """The header of `data` within `limits` (microseconds: no pixel is decoded); ImageError."""
    im = open_image(data, limits)
    return ImageHeader(im.size[0], im.size[1], im.format or "", im.mode)


def header_of(im: Image.Image) -> ImageHeader:
    """The header of an image opened with `open_image`."""
    return ImageHeader(im.size[0], im.size[1], im.format or "", im.mode)


# ------------------------------------------------------------------------------ PIL decode


def pil_orientation(im: Image.Image) -> int:
    """The EXIF orientation PIL sees (1..8; 1 when absent, invalid or unreadable)."""
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the photo unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def to_rgb8(im: Image.Image) -> np.ndarray:
    """uint8 RGB [H, W, 3] of an opened image: first frame, EXIF orientation, 8 bits, no alpha."""
    im.seek(0)
    im.load()
    orientation = pil_orientation(im)
    if orientation != 1:
        im = im.transpose(_TRANSPOSE[orientation])
    if im.mode in _SIXTEEN_BIT_MODES:
        # Scale, don't clip (PIL's convert("RGB") clips 16-bit values: a grey photo turns white).
        # (x + 128) // 257 == round(x / 257) for every integer x: 257 is odd, so no ties.
        wide = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        grey = ((wide + 128) // 257).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode == "F":
        im = im.convert("L")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    if im.mode != "RGB":
        im = im.convert("RGB")  # alpha is dropped, not composited: what TF's channels=3 does
    return np.asarray(im, dtype=np.uint8)


def decode_pil(data: bytes, limits: ImageLimits | None = None) -> np.ndarray:
    """uint8 RGB [H, W, 3] of encoded bytes via PIL (see `to_rgb8`); ImageError if unusable."""
    im = open_image(data, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return to_rgb8(im)
    except Exception as e:  # noqa: BLE001 - truncated data, broken chunks: PIL raises many types
        raise ImageError(UNDECODABLE, f"{type(e).__name__}: {e}", header_of(im)) from e


def encode_png(rgb: np.ndarray) -> bytes:
    """Lossless PNG of uint8 RGB pixels (fast compression: it is only carried to the model)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").save(
        buf, "PNG", compress_level=1
    )
    return buf.getvalue()


# ------------------------------------------------------------------------------ bridge


def jpeg_exif_orientation(data: bytes) -> int:
    """The EXIF orientation the in-graph decoder reads from a JPEG (its Python mirror), 1..8."""
    n, pos = len(data), 2
    for _ in range(_MAX_JPEG_SEGMENTS):
        if pos + 1 >= n or data[pos] != 0xFF:
            return 1
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # scan data or end: no Exif before it
            return 1
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big") if pos + 3 < n else 0
        if length < 2:
            return 1
        if marker == 0xE1 and length >= 8 and data[pos + 4 : pos + 10] == b"Exif\0\0":
            return _tiff_orientation(data, pos + 10, pos + 2 + length)
        pos += 2 + length
    return 1


def _tiff_orientation(data: bytes, start: int, end: int) -> int:
    """IFD0 tag 0x0112 of the TIFF structure at data[start:end] (SHORT or LONG), 1..8."""
    order = data[start : start + 2]
    if order not in (b"II", b"MM"):
        return 1
    bo = "<" if order == b"II" else ">"

    def u16(at: int) -> int:
        return struct.unpack(bo + "H", data[at : at + 2])[0] if at + 2 <= len(data) else 0

    def u32(at: int) -> int:
        return struct.unpack(bo + "I", data[at : at + 4])[0] if at + 4 <= len(data) else 0

    if u16(start + 2) != 42:
        return 1
    ifd = start + u32(start + 4)
    count = u16(ifd)
    for k in range(min(count, _MAX_IFD_ENTRIES)):
        entry = ifd + 2 + 12 * k
        if entry + 12 > end:
            break
        kind, count = u16(entry + 2), u32(entry + 4)
        if u16(entry) == ORIENTATION_TAG and kind in (3, 4) and count >= 1:
            # PIL takes the first value of a longer list; values beyond 4 bytes sit at an offset.
            inline = count * (2 if kind == 3 else 4) <= 4
            at = entry + 8 if inline else start + u32(entry + 8)
            value = u16(at) if kind == 3 else u32(at)
            return value if 1 <= value <= 8 else 1
    return 1


def _graph_native(im: Image.Image, data: bytes) -> bool:
    """True when the in-graph decoder gives exactly the pixels `decode_pil` gives."""
    orientation = pil_orientation(im)
    if im.format in ("JPEG", "MPO"):
        # L/RGB JPEGs decode identically (same libjpeg, accurate DCT); CMYK/YCCK do not exist in
        # the graph. Orientation must be the one the graph reads (PIL also reads XMP, merges
        # several Exif segments...): when they disagree the PIL view wins, re-encoded.
        return im.mode in ("L", "RGB") and orientation == jpeg_exif_orientation(data)
    if im.format == "PNG" and data.startswith(_PNG_SIGNATURE):
        # Every PNG mode decodes identically (16-bit grey via the same rounding); an eXIf
        # orientation is not applied in the graph; APNG frame 0 may not be the default image.
        return orientation == 1 and getattr(im, "n_frames", 1) == 1
    # GIF (disposal/transparency), BMP (TF reads palette BMPs wrongly), WebP, TIFF, ...
    return False


def graph_ready_bytes(
    data: bytes, limits: ImageLimits | None = None, *, verify: bool = False
) -> bytes:
    """`data` itself when the in-graph decoder reads it as `decode_pil` does, else a PNG of it.

    Args:
      data: encoded image bytes (any format PIL reads).
      limits: checked on the header first (ImageError `too_large`); None = no limits.
      verify: decode every pixel even of pass-through files, so truncated data is an ImageError
        here rather than a model error later.
    Returns the bytes unchanged (the same object) or a lossless PNG of the oriented RGB8 pixels.
    """
    im = open_image(data, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if verify:
                im.verify()  # structure and checksums; the image object is unusable afterwards
                im = Image.open(io.BytesIO(data))
                im.load()  # every pixel: catches truncated data that verify() misses
            if _graph_native(im, data):
                return data
            return encode_png(to_rgb8(im))
    except Exception as e:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, ...
        raise ImageError(UNDECODABLE, f"{type(e).__name__}: {e}", header_of(im)) from e


# ------------------------------------------------------------------------------ in-graph decode


def _jpeg_orientation_graph(data):
    """In-graph `jpeg_exif_orientation`: int32 scalar 1..8 from a JPEG's APP1 Exif segment."""
    import tensorflow as tf

    raw = tf.cast(tf.io.decode_raw(data, tf.uint8), tf.int64)
    n = tf.size(raw, out_type=tf.int64)

    def at(i):
        """Byte(s) at index i (scalar or vector), 0 outside the data."""
        i = tf.convert_to_tensor(i, tf.int64)
        inside = (i >= 0) & (i < n)
        index = tf.clip_by_value(i, 0, tf.maximum(n - 1, 0))
        return tf.where(inside, tf.gather(raw, index), tf.zeros_like(i))

    one = tf.constant(1, tf.int64)
    exif_magic = tf.constant([0x45, 0x78, 0x69, 0x66, 0, 0], tf.int64)  # b"Exif\0\0"

    def body(pos, start, end):
        marker_ok = (pos + 1 < n) & (at(pos) == 0xFF)
        marker = at(pos + 1)
        length = at(pos + 2) * 256 + at(pos + 3)
        fill = marker_ok & (marker == 0xFF)
        standalone = ((marker >= 0xD0) & (marker <= 0xD8)) | (marker == 0x01)
        stop = ~marker_ok | (marker == 0xDA) | (marker == 0xD9)
        stop |= ~fill & ~standalone & (length < 2)
        found = (
            ~stop
            & ~fill
            & (marker == 0xE1)
            & (length >= 8)
            & tf.reduce_all(at(pos + 4 + tf.range(6, dtype=tf.int64)) == exif_magic)
        )
        step = tf.where(fill, one, tf.where(standalone, 2 * one, 2 + length))
        new_pos = tf.where(stop | found, -one, pos + step)
        return (
            new_pos,
            tf.where(found, pos + 10, start),
            tf.where(found, pos + 2 + length, end),
        )

    _, start, end = tf.while_loop(
        lambda pos, start, end: pos >= 0,
        body,
        (2 * one, -one, -one),
        maximum_iterations=_MAX_JPEG_SEGMENTS,
    )

    little = (at(start) == 0x49) & (at(start + 1) == 0x49)
    big = (at(start) == 0x4D) & (at(start + 1) == 0x4D)

    def u16(i):
        return tf.where(little, at(i) + at(i + 1) * 256, at(i) * 256 + at(i + 1))

    def u32(i):
        lo, hi = u16(i), u16(i + 2)
        return tf.where(little, lo + hi * 65536, lo * 65536 + hi)

    tiff_ok = (start >= 0) & (little | big) & (u16(start + 2) == 42)
    ifd = start + u32(start + 4)
    count = u16(ifd)
    k = tf.range(_MAX_IFD_ENTRIES, dtype=tf.int64)
    entry = ifd + 2 + 12 * k
    kind, values_count = u16(entry + 2), u32(entry + 4)
    hit = (
        (k < count)
        & (entry + 12 <= end)
        & (u16(entry) == ORIENTATION_TAG)
        & ((kind == 3) | (kind == 4))
        & (values_count >= 1)
    )
    # Entries after the first that runs past the segment are not read (the mirror breaks there).
    hit &= tf.cumsum(tf.cast((k < count) & (entry + 12 > end), tf.int64)) == 0
    inline = values_count * tf.where(kind == 3, 2 * one, 4 * one) <= 4
    at_value = tf.where(inline, entry + 8, start + u32(entry + 8))
    values = tf.where(kind == 3, u16(at_value), u32(at_value))
    first = tf.gather(values, tf.argmax(tf.cast(hit, tf.int32)))
    value = tf.where(tf.reduce_any(hit), first, one)
    valid = tiff_ok & (value >= 1) & (value <= 8)
    return tf.cast(tf.where(valid, value, one), tf.int32)


def _orient(pixels, orientation):
    """Apply EXIF orientation 1..8 to [H, W, C] (same result as PIL's exif_transpose)."""
    import tensorflow as tf

    def t(x):
        return tf.transpose(x, [1, 0, 2])

    branches = [
        lambda: pixels,
        lambda: tf.reverse(pixels, [1]),  # 2: mirror left-right
        lambda: tf.reverse(pixels, [0, 1]),  # 3: rotate 180
        lambda: tf.reverse(pixels, [0]),  # 4: mirror top-bottom
        lambda: t(pixels),  # 5: transpose
        lambda: tf.reverse(t(pixels), [1]),  # 6: rotate 90 clockwise
        lambda: tf.reverse(t(pixels), [0, 1]),  # 7: transverse
        lambda: tf.reverse(t(pixels), [0]),  # 8: rotate 90 counter-clockwise
    ]
    return tf.switch_case(orientation - 1, branches)


def decode_pixels(image_bytes):
    """Encoded bytes (scalar string tensor) -> uint8 RGB [H, W, 3], in pure TF ops.

    JPEG: accurate integer DCT (pixel-identical to PIL's libjpeg) plus the EXIF orientation;
    PNG: uint16 then round(x / 257) (8-bit PNGs come back as x * 257, so exact); GIF/BMP: first
    frame through tf.io.decode_image. Alpha is dropped, grey and palette become RGB.
    """
    import tensorflow as tf

    data = tf.convert_to_tensor(image_bytes, tf.string)

    def jpeg():
        pixels = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        return _orient(pixels, _jpeg_orientation_graph(data))

    def png():
        wide = tf.cast(tf.io.decode_png(data, channels=3, dtype=tf.uint16), tf.int32)
        return tf.cast((wide + 128) // 257, tf.uint8)

    def other():
        return tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)

    is_png = tf.equal(tf.strings.substr(data, 0, len(_PNG_SIGNATURE)), _PNG_SIGNATURE)
    pixels = tf.case([(tf.io.is_jpeg(data), jpeg), (is_png, png)], default=other)
    return tf.ensure_shape(pixels, [None, None, 3])


def decode_image(image_bytes, size: int):
    """Encoded bytes -> float32 RGB `[size, size, 3]` in 0..255, in pure TF ops.

    `decode_pixels`, then a bilinear resize with antialiasing, so large photos don't alias when
    shrunk. The feature extractor and the exported SavedModel both call this function, so
    serving decodes exactly as extraction did.
    """
    import tensorflow as tf

    image = tf.image.resize(
        tf.cast(decode_pixels(image_bytes), tf.float32),
        [size, size],
        method="bilinear",
        antialias=True,
    )
    return tf.ensure_shape(image, [size, size, 3])
