"""Bytes before they are an image: how much of a file is read, what an unknown file looks like.

`vistflow.images` re-exports them; this module imports nothing of vistflow (the floor below it).
Every stage that reads image files through Beam reads them with `read_file`.
"""

from __future__ import annotations

# Encoded file size read at most (batch-caption's --max-bytes default too): the largest real
# VIST/Flickr or COCO photos are < ~20 MB, so 50 MiB rejects none of them while a mislabelled
# multi-GB file (a video, a disk image named .jpg) is refused without being read into memory.
DEFAULT_MAX_BYTES = 50 * 2**20
# Long side / short side above this is `too_large`: a 30000x2 strip is an absurd size;
# squashed to a square it is noise.
DEFAULT_MAX_ASPECT = 20.0


class FileTooLarge(ValueError):
    """A file holds more than `max_bytes` (found while reading, not from its reported size)."""

    def __init__(self, max_bytes: int):
        super().__init__(f"more than max_bytes {max_bytes} bytes")
        self.max_bytes = max_bytes


def read_bounded(f, max_bytes: int) -> bytes:
    """The content of binary file object `f`, reading at most `max_bytes + 1` bytes.

    Raises FileTooLarge when `f` holds more than `max_bytes`, whatever size was reported for it
    before: a file can grow between a size check and the read, a file system can misreport.
    """
    chunks, total = [], 0
    while total <= max_bytes:
        chunk = f.read(max_bytes + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise FileTooLarge(max_bytes)
    return b"".join(chunks)


def open_as_stored(path: str):
    """`path` opened for binary reading through Beam's FileSystems (local, gs://, s3://...).

    Not Beam's AUTO compression: a photo named *.gz must not be gunzipped (nor a gzip bomb
    expanded).
    """
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_file(path: str, max_bytes: int, open_fn=None) -> bytes:
    """The bytes of the file at `path` as stored, at most `max_bytes` (FileTooLarge past them).

    `open_fn` opens a path for binary reading; default `open_as_stored`. Not-found and I/O
    errors are the file system's own (FileNotFoundError, OSError, BeamIOError).
    """
    with (open_fn or open_as_stored)(path) as f:
        return read_bounded(f, max_bytes)


def reported_size(path: str) -> int | None:
    """The size in bytes a file system reports for `path`, None when it cannot say."""
    from apache_beam.io.filesystems import FileSystems

    try:
        # One stat (a HEAD on object stores); FileSystems.match would treat `path` as a glob.
        return FileSystems.get_filesystem(path).metadata(path).size_in_bytes
    except Exception:  # noqa: BLE001 - missing/unreadable: opening it names the problem
        return None


# What a file that is no image usually is, by its first bytes (lower case; a name, no content).
_MAGIC = (
    (b"\x89png\r\n\x1a\n", "PNG signature with an unreadable header"),
    (b"\xff\xd8\xff", "JPEG signature with an unreadable header"),
    (b"gif8", "GIF signature with an unreadable header"),
    (b"%pdf", "PDF document"),
    (b"pk\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"<?xml", "XML text"),
    (b"<svg", "SVG image (vector, not supported)"),
    (b"<!doctype html", "HTML text"),
    (b"<html", "HTML text"),
    (b"{", "JSON text"),
    (b"[", "JSON text"),
)
_TEXT_SAMPLE = 4096


def describe(data: bytes) -> str:
    """What unrecognised bytes look like, e.g. "HTML text (1234 bytes)".

    Only a kind and a length: never the bytes themselves, since details end up in reports and a
    "photo" may be any file (a link to /etc/passwd, a private document).
    """
    head = data[:64].lstrip().lower()
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), "")
    if not kind and data[4:8] == b"ftyp":  # ISO media: HEIC/AVIF photos, MP4/MOV videos
        kind = "ISO media (HEIC/AVIF/MP4...)"
    if not kind:
        text = data[:_TEXT_SAMPLE].decode("utf-8", "replace")
        if len(data) > _TEXT_SAMPLE:  # a multi-byte character cut by the sample is still text
            text = text[:-3]
        printable = sum(c != "\ufffd" and (c.isprintable() or c in "\t\r\n") for c in text)
        kind = "text" if text and printable >= 0.95 * len(text) else "binary data"
    return f"{kind} ({len(data)} bytes)"
