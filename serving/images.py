"""Image checks before encoded bytes reach a model, in the server's words.

The checks and the decoding are `vistflow.images` (the one decoder every stage uses); this
module words its errors for API clients ("above this server's limit ...").
"""

from __future__ import annotations

from serving.defaults import DEFAULT_MAX_IMAGE_PIXELS
from vistflow import images
from vistflow.images import DEFAULT_MAX_ASPECT


class ImageCheckError(ValueError):
    """The bytes are not an image the server accepts; the message says why."""


def _limits(max_pixels: int, max_aspect: float) -> images.ImageLimits:
    return images.ImageLimits(max_pixels=max_pixels, max_aspect=max_aspect)


def _message(error: images.ImageError, limits: images.ImageLimits) -> str:
    header = error.header
    if error.reason == images.EMPTY_FILE:
        return "empty image (0 bytes)"
    if error.reason == images.NOT_AN_IMAGE:
        return "not an image in a format the server recognises"
    if error.reason == images.TOO_LARGE:
        if header is None:  # refused by the decompression-bomb guard before the size is known
            return f"image is above this server's limit of {limits.max_pixels} pixels ({error})"
        size = f"{header.format} image is {header.width}x{header.height}"
        if error.limit == "max_aspect":
            aspect = max(header.width, header.height) / min(header.width, header.height)
            return (
                f"{size}: aspect ratio {aspect:.1f}, above this server's limit of "
                f"{limits.max_aspect}"
            )
        return (
            f"{size} = {header.width * header.height} pixels, above this server's limit of "
            f"{limits.max_pixels} pixels"
        )
    return f"not a decodable image ({error})"


def check_image(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_aspect: float = DEFAULT_MAX_ASPECT,
) -> tuple[int, int]:
    """Return (width, height) from the image header; raise ImageCheckError if unusable.

    Only the header is parsed (PIL opens lazily), so this costs microseconds, not a decode.
    """
    limits = _limits(max_pixels, max_aspect)
    try:
        header = images.check_header(data, limits)
    except images.ImageError as e:
        raise ImageCheckError(_message(e, limits)) from e
    return header.width, header.height


def prepare_image(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_aspect: float = DEFAULT_MAX_ASPECT,
) -> bytes:
    """Check `data` and return the bytes to feed the model (`vistflow.images.graph_ready_bytes`).

    JPEG/PNG the graph decodes as PIL does come back unchanged (a header parse); WebP, TIFF,
    CMYK, GIF, BMP or a PNG with an EXIF orientation come back as a PNG of PIL's oriented
    pixels, so the server answers as the feature extractor decoded. ImageCheckError otherwise.
    """
    limits = _limits(max_pixels, max_aspect)
    try:
        return images.graph_ready_bytes(data, limits)
    except images.ImageError as e:
        raise ImageCheckError(_message(e, limits)) from e
