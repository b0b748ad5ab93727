"""Streaming JSON primitives shared by the validator and the readers.

The VIST annotation files are single-line JSON documents of hundreds of MB, so nothing here
loads a whole document: arrays are walked item by item with ijson (C yajl2 backend when
available). Syntax errors are located precisely (byte offset, line, column and the JSON path
being parsed) by a second pass that only runs when a file is broken.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson

from vistflow.errors import InputFormatError, VistflowError

# ijson raises JSONError subclasses for bad syntax; a backend without UTF-8 validation in C
# surfaces invalid bytes as UnicodeDecodeError instead.
JSON_SYNTAX_ERRORS: tuple[type[BaseException], ...] = (ijson.JSONError, UnicodeDecodeError)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READ_SIZE = 64 * 1024


def json_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """Renders path components as a JSONPath: ("annotations", 12, 0, "story_id") ->
    `$.annotations[12][0].story_id`."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)


def type_name(value: Any) -> str:
    """The JSON type name of a decoded value (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def short_repr(value: Any, limit: int = 60) -> str:
    """repr() clipped to `limit` characters, for quoting offending values in messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CountingReader:
    """A binary file wrapper that counts the bytes handed to the parser.

    With `slow_from`, reads at or past that offset return one byte at a time, so the parser
    fails exactly on the offending byte and `position` pins it down.
    """

    def __init__(self, raw: IO[bytes], slow_from: int | None = None):
        self._raw = raw
        self._slow_from = slow_from
        self.position = 0  # bytes returned so far
        self.last_chunk = 0  # size of the most recent non-probe read

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes the stream type with read(0): must not consume anything
            return b""
        if self._slow_from is not None:
            if self.position >= self._slow_from:
                size = 1
            elif size < 0 or self.position + size > self._slow_from:
                size = self._slow_from - self.position
        data = self._raw.read(size)
        self.position += len(data)
        self.last_chunk = len(data)
        return data


@dataclass(frozen=True)
class SyntaxLocation:
    """Where a JSON document stops being valid."""

    # Byte where the parser stopped: the offending byte, or the last byte of the offending token
    # (yajl lexes a whole token first); the file size for a truncated file.
    offset: int
    line: int  # 1-based
    column: int  # 1-based, in characters
    path: str  # JSON path of the value being parsed, e.g. $.annotations[12][0]
    truncated: bool  # the document ended early
    message: str  # the parser's own description
    empty: bool = False  # nothing but whitespace before the end


def _is_uri(path: str | os.PathLike) -> bool:
    return "://" in os.fspath(path)


def _open_raw(path: str | os.PathLike) -> IO[bytes]:
    """A seekable byte stream: local files directly, URIs (gs://, s3://) through Beam's
    FileSystems, the same registry ingest checks them with; both read in chunks, never whole."""
    if not _is_uri(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(os.fspath(path), compression_type=CompressionTypes.UNCOMPRESSED)


def _size(path: str | os.PathLike) -> int:
    if not _is_uri(path):
        return os.path.getsize(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.match([os.fspath(path)])[0].metadata_list[0].size_in_bytes


def open_binary(path: str | os.PathLike) -> IO[bytes]:
    """Opens `path` (a local path or a URI) for streaming; a missing file or a directory is a
    user error."""
    if _is_uri(path):
        from apache_beam.io.filesystems import FileSystems

        uri = os.fspath(path)
        if not FileSystems.exists(uri):
            raise VistflowError(f"{uri}: no such file")
        if not FileSystems.match([uri])[0].metadata_list:  # a bare prefix ("directory")
            raise VistflowError(f"{uri}: is a directory, expected a JSON file")
        return _open_raw(uri)
    p = Path(path)
    if not p.exists():
        raise VistflowError(f"{p}: no such file")
    if p.is_dir():
        raise VistflowError(f"{p}: is a directory, expected a JSON file")
    return open(p, "rb")


def syntax_error(path: str | os.PathLike, error: BaseException, hint: int = 0) -> InputFormatError:
    """Turns a parser exception into an InputFormatError naming offset, line, column, JSON path.

    Args:
      path: the file that failed to parse.
      error: the exception ijson raised.
      hint: a byte offset known to lie before the error (speeds up the location pass).
    """
    loc = locate_syntax_error(path, hint=hint, fallback_message=_parser_message(error))
    where = f"byte {loc.offset} (line {loc.line}, column {loc.column})"
    if loc.empty:
        reason = "empty file: expected a JSON object"
    elif loc.truncated:
        reason = f"truncated JSON: the file ends in the middle of a value at {where}"
    else:
        reason = f"malformed JSON at {where}: {loc.message}; near {_excerpt(path, loc.offset)}"
    return InputFormatError(str(path), loc.path, reason)


def locate_syntax_error(
    path: str | os.PathLike, *, hint: int = 0, fallback_message: str = "invalid JSON"
) -> SyntaxLocation:
    """Re-parses `path` to find the exact offset and JSON path of its first syntax error.

    Reads normally up to `hint`, then byte by byte, tracking the path of the value in progress.
    Only called on broken files, so the extra pass costs nothing on the happy path.
    """
    tracker = _PathTracker()
    size = _size(path)
    message = fallback_message
    failed = False
    events = 0
    with _open_raw(path) as raw:
        reader = CountingReader(raw, slow_from=max(0, hint))
        try:
            for _prefix, event, value in ijson.parse(reader, use_float=True):
                tracker.event(event, value)
                events += 1
        except JSON_SYNTAX_ERRORS as e:
            message, failed = _parser_message(e), True
    # The parser fails on the byte that breaks the grammar; if it only failed once it asked for
    # more input and got none, the document is truncated.
    truncated = failed and reader.last_chunk == 0
    offset = reader.position - 1 if failed and not truncated else size
    line, column = _line_column(path, offset)
    return SyntaxLocation(
        offset, line, column, tracker.path(), truncated, message, empty=truncated and not events
    )


def _parser_message(error: BaseException) -> str:
    text = str(error).strip()
    if text.startswith(("b'", 'b"')):  # yajl2_c sometimes reports repr(bytes)
        try:
            text = ast.literal_eval(text).decode("utf-8", "replace").strip()
        except (ValueError, SyntaxError):
            pass
    first = text.splitlines()[0] if text else type(error).__name__
    for prefix in ("parse error: ", "lexical error: "):
        if first.startswith(prefix):
            first = first[len(prefix) :]
    return first.rstrip(".")


_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


def _line_column(path: str | os.PathLike, offset: int) -> tuple[int, int]:
    """1-based line and character column of byte `offset`, without reading the file at once."""
    line, column = 1, 1
    remaining = offset
    with _open_raw(path) as f:
        while remaining > 0:
            chunk = f.read(min(_READ_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            newlines = chunk.count(b"\n")
            if newlines:
                line += newlines
                chunk = chunk[chunk.rindex(b"\n") + 1 :]
                column = 1
            # Count characters, not bytes: UTF-8 continuation bytes do not start a character.
            column += len(chunk.translate(None, _CONTINUATION_BYTES))
    return line, column


def _excerpt(path: str | os.PathLike, offset: int, width: int = 24) -> str:
    with _open_raw(path) as f:
        f.seek(max(0, offset - width))
        data = f.read(min(offset, width) + width)
    return repr(data.decode("utf-8", "replace"))


class _PathTracker:
    """Follows ijson events and knows the JSON path of the value being parsed."""

    def __init__(self) -> None:
        # One frame per open container: [is_array, key or next index].
        self._stack: list[list[Any]] = []

    def _value_starts(self) -> None:
        if self._stack and self._stack[-1][0]:
            self._stack[-1][1] += 1

    def _value_ends(self) -> None:
        # Once an object member's value is complete, the next problem belongs to the object.
        if self._stack and not self._stack[-1][0]:
            self._stack[-1][1] = None

    def event(self, event: str, value: Any) -> None:
        if event == "map_key":
            self._stack[-1][1] = value
        elif event in ("start_map", "start_array"):
            self._value_starts()
            self._stack.append([event == "start_array", -1 if event == "start_array" else None])
        elif event in ("end_map", "end_array"):
            self._stack.pop()
            self._value_ends()
        else:
            self._value_starts()
            self._value_ends()

    def path(self) -> str:
        parts: list[str | int] = []
        last = len(self._stack) - 1
        for depth, (is_array, position) in enumerate(self._stack):
            if is_array:
                # Inside an item, the path goes through it; in the innermost array, the broken
                # value is the one after the last complete item.
                parts.append(position + 1 if depth == last else position)
            elif position is not None:
                parts.append(position)
        return json_path(parts)


@dataclass
class TopLevel:
    """The top-level object of a document whose big arrays were streamed, not stored."""

    values: dict[str, Any]  # every other top-level key, fully built
    array_lengths: dict[str, int]  # streamed key -> number of items


def stream_document(
    path: str | os.PathLike,
    streamed_keys: tuple[str, ...],
    on_item: Callable[[str, int, Any], None],
) -> TopLevel:
    """Walks a JSON document whose top level is an object, streaming chosen arrays.

    For each top-level key in `streamed_keys` whose value is an array, every item is built on
    its own and passed to `on_item(key, index, item)`; the array itself is never held. Other
    top-level values are built and returned. Raises InputFormatError on syntax errors and when
    the top level is not an object.
    """
    with open_binary(path) as raw:
        reader = CountingReader(raw)
        try:
            return _walk(path, ijson.parse(reader, use_float=True), streamed_keys, on_item)
        except JSON_SYNTAX_ERRORS as e:
            raise syntax_error(path, e, hint=reader.position - reader.last_chunk) from None


def _walk(
    path: str | os.PathLike,
    events: Iterator[tuple[str, str, Any]],
    streamed_keys: tuple[str, ...],
    on_item: Callable[[str, int, Any], None],
) -> TopLevel:
    events = iter(events)
    first = next(events, None)
    if first is None:
        raise InputFormatError(str(path), "$", "empty file: expected a JSON object")
    if first[1] != "start_map":
        kind = {"start_array": "array"}.get(first[1], first[1])
        raise InputFormatError(str(path), "$", f"top-level value must be an object, got {kind}")
    top = TopLevel({}, {})
    for _prefix, event, value in events:
        if event == "end_map":
            for _ in events:  # the parser raises on anything but whitespace after the object
                pass
            return top
        # event is map_key: the next event opens its value.
        key = value
        _prefix, event, value = next(events)
        if key in streamed_keys and event == "start_array":
            top.array_lengths[key] = _stream_array(key, events, on_item)
        else:
            top.values[key] = _build(event, value, events)
    raise InputFormatError(str(path), "$", "unexpected end of the top-level object")


def _stream_array(
    key: str, events: Iterator[tuple[str, str, Any]], on_item: Callable[[str, int, Any], None]
) -> int:
    index = 0
    for _prefix, event, value in events:
        if event == "end_array":
            return index
        on_item(key, index, _build(event, value, events))
        index += 1
    return index  # unreachable for well-formed input: the parser raises first


def _build(event: str, value: Any, events: Iterator[tuple[str, str, Any]]) -> Any:
    """Builds one complete value whose first event has just been read.

    Inlined instead of ijson's ObjectBuilder: this loop runs once per JSON token of the file.
    """
    if event == "start_map":
        root: Any = {}
    elif event == "start_array":
        root = []
    else:
        return value
    # Each frame: the container and, for objects, the pending key.
    stack: list[Any] = [root]
    keys: list[Any] = [None]
    container = root
    key = None
    for _prefix, event, value in events:
        if event == "map_key":
            key = value
            continue
        if event == "end_map" or event == "end_array":
            stack.pop()
            keys.pop()
            if not stack:
                return root
            container = stack[-1]
            key = keys[-1]
            continue
        if event == "start_map":
            value = {}
        elif event == "start_array":
            value = []
        if type(container) is dict:
            container[key] = value
        else:
            container.append(value)
        if event == "start_map" or event == "start_array":
            keys[-1] = key
            stack.append(value)
            keys.append(None)
            container = value
            key = None
    return root


def iter_array_items(path: str | os.PathLike, key: str) -> Iterator[tuple[int, Any]]:
    """Yields (index, item) of the top-level array `key`, parsed by the C backend.

    Much faster than `stream_document` when only one array matters (the readers). Raises
    InputFormatError on syntax errors, and when the file has no such array (checked only when
    the array turned out empty, so the happy path stays a single pass).
    """
    count = 0
    with open_binary(path) as raw:
        reader = CountingReader(raw)
        try:
            for count, item in enumerate(ijson.items(reader, f"{key}.item", use_float=True), 1):
                yield count - 1, item
        except JSON_SYNTAX_ERRORS as e:
            raise syntax_error(path, e, hint=reader.position - reader.last_chunk) from None
    if count == 0:
        _require_top_level_array(path, key)


def _require_top_level_array(path: str | os.PathLike, key: str) -> None:
    found: str | None = None
    with open_binary(path) as raw:
        events = ijson.parse(CountingReader(raw), use_float=True)
        first = next(events, None)
        if first is None or first[1] != "start_map":
            got = "nothing" if first is None else first[1].replace("start_", "")
            raise InputFormatError(str(path), "$", f"top-level value must be an object, got {got}")
        for prefix, event, value in events:
            if prefix == "" and event == "map_key" and value == key:
                _, event, _ = next(events)
                found = event
                break
    if found is None:
        raise InputFormatError(str(path), "$", f"missing required top-level key '{key}'")
    if found != "start_array":
        got = found.replace("start_", "").replace("map", "object")
        raise InputFormatError(str(path), json_path([key]), f"expected an array, got {got}")
