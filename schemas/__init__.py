"""Checked-in contracts: JSON Schemas for the input files (and, later, the TFMD example schema)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["load_json_schema", "JSON_SCHEMAS"]

# name -> file in this package. The names are what `vistflow validate --kind` accepts.
JSON_SCHEMAS: dict[str, str] = {
    "sis": "vist_sis.schema.json",
    "dii": "vist_dii.schema.json",
    "karpathy": "karpathy.schema.json",
}


def load_json_schema(name: str) -> dict[str, Any]:
    """Returns the JSON Schema `name` ("sis", "dii", "karpathy" or a file name in this package).

    Read through importlib.resources, so it works from an installed wheel as well as a checkout.
    Each call returns a fresh copy: callers may modify it.
    """
    return json.loads(_schema_text(JSON_SCHEMAS.get(name, name)))


@cache
def _schema_text(filename: str) -> str:
    resource = resources.files(__name__).joinpath(filename)
    if not filename.endswith(".json") or not resource.is_file():
        known = ", ".join(sorted(JSON_SCHEMAS))
        raise KeyError(f"unknown JSON schema {filename!r} (known: {known})")
    return resource.read_text(encoding="utf-8")
