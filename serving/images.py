"""Cheap image checks (headers only) before encoded bytes reach a model."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from serving.defaults import DEFAULT_MAX_IMAGE_PIXELS


class ImageCheckError(ValueError):
    """The bytes are not an image the server accepts; the message says why."""


def check_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Return (width, height) from the image header; raise ImageCheckError if unusable.

    Only the header is parsed (PIL opens lazily), so this costs microseconds, not a decode.
    """
    if not data:
        raise ImageCheckError("empty image (0 bytes)")
    try:
        with warnings.catch_warnings():
            # We apply our own pixel limit; silence PIL's DecompressionBombWarning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                fmt = image.format
    except Image.DecompressionBombError as e:
        # PIL refuses sizes above 2 * Image.MAX_IMAGE_PIXELS before telling us the size.
        raise ImageCheckError(
            f"image is above this server's limit of {max_pixels} pixels ({e})"
        ) from e
    except UnidentifiedImageError as e:
        raise ImageCheckError("not an image in a format the server recognises") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageCheckError(f"not a decodable image ({e})") from e
    if width <= 0 or height <= 0:
        raise ImageCheckError(f"{fmt} image has an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageCheckError(
            f"{fmt} image is {width}x{height} = {width * height} pixels, above this server's "
            f"limit of {max_pixels} pixels"
        )
    return width, height
