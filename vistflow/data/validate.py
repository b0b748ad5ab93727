"""Streaming validation of VIST (SIS, DII) and Karpathy caption files against `schemas/`.

The document is never loaded at once: the top-level object minus its big arrays is checked
against the file's schema, and every item of `albums`, `images`, `annotations` (Karpathy:
`images`) against the schema's `items` sub-schema as it streams past. The first problem raises
`InputFormatError(file, json_path, reason)`, e.g.
`train.story-in-sequence.json: $.annotations[12][0].story_id: missing required field`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from schemas import load_json_schema
from vistflow.data.jsonstream import json_path, short_repr, stream_document, type_name
from vistflow.data.schema_predicate import UnsupportedSchema, compile_predicate
from vistflow.errors import InputFormatError, VistflowError

log = logging.getLogger(__name__)

Kind = Literal["sis", "dii", "karpathy"]
KINDS: tuple[str, ...] = ("sis", "dii", "karpathy")

# Top-level arrays streamed item by item; everything else at the top level is small.
STREAMED_KEYS: dict[str, tuple[str, ...]] = {
    "sis": ("albums", "images", "annotations"),
    "dii": ("albums", "images", "annotations"),
    "karpathy": ("images",),
}


@dataclass(frozen=True)
class ValidationSummary:
    """What a valid file contains."""

    file: str
    kind: str
    size_bytes: int
    counts: Mapping[str, int] = field(default_factory=dict)  # streamed array -> items
    declared_type: str = ""  # the file's own `type` (VIST) or `dataset` (Karpathy) field
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for humans: `<file>: OK sis (12.3 MB): 10 albums, 50 images, 250 annotations`."""
        counts = ", ".join(f"{n} {key}" for key, n in self.counts.items())
        return f"{self.file}: OK {self.kind} ({self.size_bytes / 1e6:.1f} MB): {counts}"


def infer_kind(path: str | os.PathLike) -> Kind:
    """Kind of an annotation file from its official name; raises VistflowError if unknown."""
    name = Path(path).name
    if name.endswith(".story-in-sequence.json"):
        return "sis"
    if name.endswith(".description-in-isolation.json"):
        return "dii"
    if name.startswith("dataset_") and name.endswith(".json"):
        return "karpathy"
    raise VistflowError(
        f"{path}: cannot tell the file kind from its name (expected "
        "<split>.story-in-sequence.json, <split>.description-in-isolation.json or "
        "dataset_<name>.json); pass the kind explicitly (--kind sis|dii|karpathy)"
    )


def validate_file(path: str | os.PathLike, kind: Kind | None = None) -> ValidationSummary:
    """Validates one file by streaming it; raises InputFormatError at the first problem.

    Args:
      path: the JSON file.
      kind: "sis", "dii" or "karpathy"; inferred from the official file name when None.
    """
    kind = kind or infer_kind(path)
    if kind not in KINDS:
        raise VistflowError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    checker = _checker(kind)
    file = str(path)
    started = time.monotonic()

    def on_item(key: str, index: int, item: Any) -> None:
        checker.check_item(file, key, index, item)

    top = stream_document(path, STREAMED_KEYS[kind], on_item)
    # The streamed arrays were checked item by item; stand in empty ones for the top level.
    document = dict(top.values)
    document.update({key: [] for key in top.array_lengths})
    checker.check_top(file, document)
    counts = {key: top.array_lengths.get(key, 0) for key in STREAMED_KEYS[kind]}
    own_type = top.values.get("type" if kind != "karpathy" else "dataset", "")
    summary = ValidationSummary(
        file=file,
        kind=kind,
        size_bytes=os.path.getsize(path),
        counts=counts,
        declared_type=own_type if isinstance(own_type, str) else "",
        seconds=time.monotonic() - started,
    )
    log.debug("validated %s in %.1fs", file, summary.seconds)
    return summary


class _Checker:
    """The compiled schema of one file kind: a top-level validator plus one per streamed array."""

    def __init__(self, kind: str):
        schema = load_json_schema(kind)
        self._top = jsonschema.Draft202012Validator(schema)
        self._items: dict[str, tuple[Callable[[Any], bool], jsonschema.Validator]] = {}
        for key in STREAMED_KEYS[kind]:
            # A standalone root holding the item schema and the shared $defs, so local refs
            # resolve exactly as in the full schema.
            item_root = {
                "$schema": schema["$schema"],
                "$defs": schema.get("$defs", {}),
                **schema["properties"][key]["items"],
            }
            validator = jsonschema.Draft202012Validator(item_root)
            try:
                fast = compile_predicate(item_root)
            except UnsupportedSchema as e:
                log.info("schema %s/%s: using jsonschema only (%s)", kind, key, e)
                fast = validator.is_valid
            self._items[key] = (fast, validator)

    def check_item(self, file: str, key: str, index: int, item: Any) -> None:
        fast, validator = self._items[key]
        if fast(item):
            return
        error = best_match(validator.iter_errors(item))
        if error is not None:
            raise _to_input_error(file, (key, index), error)

    def check_top(self, file: str, document: dict[str, Any]) -> None:
        error = best_match(self._top.iter_errors(document))
        if error is not None:
            raise _to_input_error(file, (), error)


_CHECKERS: dict[str, _Checker] = {}


def _checker(kind: str) -> _Checker:
    if kind not in _CHECKERS:
        _CHECKERS[kind] = _Checker(kind)
    return _CHECKERS[kind]


def _to_input_error(
    file: str, base: tuple[str | int, ...], error: ValidationError
) -> InputFormatError:
    """Maps a jsonschema error to our message: JSON path of the offending value and a reason."""
    parts = list(base) + list(error.absolute_path)
    reason = _reason(error)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = next((k for k in error.validator_value if k not in error.instance), None)
        if missing is not None:
            parts.append(missing)
            reason = "missing required field"
    return InputFormatError(file, json_path(parts), reason)


def _reason(error: ValidationError) -> str:
    value, arg = error.instance, error.validator_value
    got = f"{type_name(value)} {short_repr(value)}"
    if error.validator == "type":
        expected = arg if isinstance(arg, str) else " or ".join(arg)
        return f"expected {expected}, got {got}"
    if error.validator == "minLength" and arg == 1:
        return "must not be empty"
    if error.validator in ("minItems", "maxItems") and isinstance(value, list):
        if arg == error.schema.get("minItems") == error.schema.get("maxItems"):
            return f"expected exactly {arg} item(s), got {len(value)}"
        bound = "at least" if error.validator == "minItems" else "at most"
        return f"expected {bound} {arg} item(s), got {len(value)}"
    if error.validator == "enum":
        return f"expected one of {', '.join(map(str, arg))}, got {got}"
    if error.validator == "minimum":
        return f"must be >= {arg}, got {short_repr(value)}"
    if error.validator == "anyOf" and error.context:
        alternatives = "; or ".join(_reason(sub) for sub in error.context)
        return f"matches none of the allowed forms: {alternatives}"
    if error.validator == "pattern":
        return f"{short_repr(value)} does not match {arg!r}"
    return error.message
