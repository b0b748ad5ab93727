"""Checks one image file: exists, inside the data root, within limits, an image, decodes fully.

The header check, the limits and the decoding are the shared ones (`vistflow.images`), so an
image accepted here is one the feature extractor, the server and batch-caption decode to the
same pixels. Pure functions over bytes/paths so they are unit-testable without Beam;
`CheckImages` in `transforms.py` runs them once per unique image.
"""

from __future__ import annotations

import base64
import io
import os
import posixpath
import threading
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

from PIL import Image, ImageFile

from components.vist_example_gen import reasons
from vistflow import image_limits, images

# The shared limits (both are pipeline options): re-exported under their historical names.
DEFAULT_MAX_PIXELS = images.DEFAULT_MAX_PIXELS
ImageLimits = images.ImageLimits
THUMBNAIL_SIDE = 96


@dataclass(frozen=True)
class ImageCheck:
    """The verdict on one image file plus what the quality report needs about it."""

    split: str
    photo_id: str
    uri: str  # "" when the file was not found
    reason: str = ""  # "" = usable
    detail: str = ""
    n_bytes: int = 0
    width: int = 0
    height: int = 0
    mode: str = ""  # PIL mode as stored (L, RGB, CMYK, P, RGBA, I;16, ...): "" if never opened
    format: str = ""  # PIL format (JPEG, PNG, GIF, ...)
    thumbnail: str = ""  # base64 JPEG, only for rejected images that decode at least partly
    expected: str = ""  # where a missing file was looked for
    bytes_read: int = 0  # of the file, by this check (at most limits.max_bytes + 1)

    @property
    def ok(self) -> bool:
        return not self.reason

    def to_dict(self) -> dict:
        return asdict(self)


class _ReadersWriterLock:
    """Many strict decodes at once, or one lenient (truncation-tolerant) decode alone.

    PIL only offers truncation tolerance as the process-global `ImageFile.LOAD_TRUNCATED_IMAGES`;
    flipping it while another thread strictly decodes would let a truncated file pass.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def shared(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self):
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


_TRUNCATION_LOCK = _ReadersWriterLock()


def configure_pil(limits: ImageLimits) -> None:
    """Sets PIL's process-wide bomb threshold to our limit (called from `DoFn.setup`).

    PIL raises DecompressionBombError above 2x `MAX_IMAGE_PIXELS` before we see the size; tying
    it to `max_pixels` keeps the option authoritative in both directions.
    """
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    # Between 1x and 2x the threshold PIL only warns; we report those images as too_large.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def check_image_bytes(
    data: bytes, *, split: str, photo_id: str, uri: str, limits: ImageLimits
) -> ImageCheck:
    """Classifies the bytes of one image file."""
    base = dict(split=split, photo_id=photo_id, uri=uri, n_bytes=len(data))
    try:
        im = images.open_image(data, limits)  # header only: sizes and limits before any decode
    except images.ImageError as e:
        # Reasons are the shared codes: empty_file, not_an_image, undecodable, too_large.
        meta = base if e.header is None else dict(base, **_header_meta(e.header))
        return ImageCheck(**meta, reason=e.reason, detail=e.detail)
    meta = dict(base, **_header_meta(images.header_of(im)))
    try:
        with _TRUNCATION_LOCK.shared():
            im.load()  # decodes every pixel: a truncated JPEG fails here, not at open()
        images.to_rgb8(im)  # the conversion every later stage makes (orientation, 16 bit, CMYK)
    except Exception as e:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, ...
        return ImageCheck(
            **meta,
            reason=reasons.UNDECODABLE,
            detail=f"{type(e).__name__}: {e}",
            thumbnail=_partial_thumbnail(data),
        )
    return ImageCheck(**meta)


def _header_meta(header: images.ImageHeader) -> dict:
    return dict(width=header.width, height=header.height, mode=header.mode, format=header.format)


def check_image_file(
    uri: str | None,
    *,
    split: str,
    photo_id: str,
    limits: ImageLimits,
    expected_location: str = "",
    root: str = "",
    open_fn: Callable[[str], io.BufferedIOBase] | None = None,
    size_fn: Callable[[str], int | None] | None = None,
) -> ImageCheck:
    """Checks the image at `uri` (None = not found) and classifies it.

    In order: found, inside `root`, not above `limits.max_bytes` by its reported size (then it is
    never opened), read (at most max_bytes + 1 bytes, whatever size was reported), the bytes.

    Args:
      uri: path or URI of the image file, or None when no file exists for the photo.
      expected_location: where the file was looked for, for the `missing_image` detail.
      root: the data root; a file whose real path (symlinks resolved) leaves it is
        `outside_data_root` and is not read. "" = no containment check.
      open_fn: opens a URI for binary reading; default `image_limits.open_as_stored` (Beam's
        FileSystems: local, gs://, ...).
      size_fn: the file's reported size in bytes (None = unknown); default
        `image_limits.reported_size`.
    """
    meta = dict(split=split, photo_id=photo_id, uri=uri or "")
    if not uri:
        where = f" (looked for {expected_location})" if expected_location else ""
        return ImageCheck(
            **meta,
            reason=reasons.MISSING_IMAGE,
            detail=f"no image file{where}",
            expected=expected_location,
        )
    path = uri
    if root:
        path, inside = resolve_within(uri, root)
        if not inside:
            return ImageCheck(
                **meta,
                reason=reasons.OUTSIDE_DATA_ROOT,
                detail=f"resolves to {path}, outside the data root {root} (not read)",
            )
    size = (size_fn or image_limits.reported_size)(path)
    if size is not None and size > limits.max_bytes:
        return ImageCheck(
            **meta,
            reason=reasons.TOO_LARGE,
            detail=f"{size} bytes > max_bytes {limits.max_bytes} (not read)",
            n_bytes=size,
        )
    try:
        data = image_limits.read_file(path, limits.max_bytes, open_fn)
    except image_limits.FileTooLarge as e:
        return ImageCheck(
            **meta,
            reason=reasons.TOO_LARGE,
            detail=f"{e} (read stopped there; size reported: {_bytes_or_unknown(size)})",
            n_bytes=limits.max_bytes + 1,
            bytes_read=limits.max_bytes + 1,
        )
    except FileNotFoundError:
        return ImageCheck(**meta, reason=reasons.MISSING_IMAGE, detail=f"{uri} does not exist")
    except OSError as e:  # unreadable (permissions, a directory, I/O error): not usable
        return ImageCheck(**meta, reason=reasons.MISSING_IMAGE, detail=f"cannot read {uri}: {e}")
    result = check_image_bytes(data, split=split, photo_id=photo_id, uri=uri, limits=limits)
    return replace(result, bytes_read=len(data))


def resolve_within(uri: str, root: str) -> tuple[str, bool]:
    """(what to open, whether it lies under `root`) for a file `uri` under data root `root`.

    Local paths: the real path of each, symlinks resolved, so a link (or a `..` in a Karpathy
    file name) that leaves the root is caught, while links inside it keep working; the real path
    is what gets opened, so the checked file is the read one. URIs (gs://...): the normalized
    path under the same scheme (object stores have no symlinks).
    """
    if "://" in uri or "://" in root:
        scheme, _, rest = uri.partition("://")
        root_scheme, _, root_rest = root.partition("://")
        path, base = posixpath.normpath("/" + rest), posixpath.normpath("/" + root_rest)
        inside = scheme == root_scheme and (path == base or path.startswith(base.rstrip("/") + "/"))
        return uri, inside
    real, base = os.path.realpath(uri), os.path.realpath(root)
    return real, os.path.commonpath([real, base]) == base


def _bytes_or_unknown(size: int | None) -> str:
    return "unknown" if size is None else f"{size} bytes"


def _partial_thumbnail(data: bytes) -> str:
    """A base64 JPEG thumbnail of whatever part of a damaged image still decodes, or ""."""
    try:
        with _TRUNCATION_LOCK.exclusive():
            previous = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = True
            try:
                im = Image.open(io.BytesIO(data))
                im.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # JPEG: decode at 1/n
                im.load()
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = previous
        return thumbnail_jpeg(im)
    except Exception:  # noqa: BLE001 - no thumbnail is the expected outcome for most bad files
        return ""


def thumbnail_jpeg(im: Image.Image) -> str:
    """Base64 JPEG, at most THUMBNAIL_SIDE on the long side (deterministic bytes).

    The shared decode's pixels: upright per EXIF orientation, 16-bit scaled rather than clipped.
    """
    im = Image.fromarray(images.to_rgb8(im))
    im.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")
