"""The compiled predicate must agree with jsonschema wherever it answers yes."""

from __future__ import annotations

import copy
import random

import jsonschema
import pytest

from schemas import JSON_SCHEMAS, load_json_schema
from vistflow.data import writers
from vistflow.data.schema_predicate import UnsupportedSchema, compile_predicate

ODD_VALUES = [None, True, False, 0, -1, 1.0, 2.5, "", "x", "12", [], [1], {}, {"a": 1}]


def _item_root(kind: str, key: str) -> dict:
    schema = load_json_schema(kind)
    return {"$defs": schema["$defs"], **schema["properties"][key]["items"]}


def _samples(kind: str, key: str) -> list:
    if kind == "karpathy":
        return [
            {
                "filename": "1.jpg",
                "split": "train",
                "cocoid": 1,
                "sentences": [{"raw": "A dog.", "tokens": ["a", "dog"], "sentid": 3}],
            }
        ]
    if key == "albums":
        return [writers.album_entry("a", 5)]
    if key == "images":
        return [writers.image_entry("p", "a")]
    if kind == "sis":
        return [[writers.sis_annotation("s", "a", "p", 0, "t")]]
    return [[writers.dii_annotation("a", "p", 0, "t")]]


def _mutations(value, rng: random.Random, depth: int = 0):
    """Yields variants of `value`: fields dropped, replaced by odd values, containers resized."""
    yield value
    for odd in ODD_VALUES:
        yield odd
    if isinstance(value, dict):
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
            for odd in rng.sample(ODD_VALUES, 4):
                yield {**value, key: odd}
            if depth < 3:
                for sub in _mutations(value[key], rng, depth + 1):
                    yield {**value, key: sub}
    elif isinstance(value, list) and value:
        yield []
        yield value + value
        if depth < 3:
            for sub in _mutations(value[0], rng, depth + 1):
                yield [sub] + value[1:]


CASES = [
    (kind, key)
    for kind in JSON_SCHEMAS
    for key in load_json_schema(kind)["properties"]
    if "items" in load_json_schema(kind)["properties"][key]
]


@pytest.mark.parametrize(("kind", "key"), CASES)
def test_predicate_agrees_with_jsonschema(kind: str, key: str):
    root = _item_root(kind, key)
    predicate = compile_predicate(root)
    validator = jsonschema.Draft202012Validator(root)
    rng = random.Random(0)
    checked = rejected = 0
    for sample in _samples(kind, key):
        for instance in _mutations(copy.deepcopy(sample), rng):
            expected = validator.is_valid(instance)
            assert predicate(instance) == expected, (kind, key, instance)
            checked += 1
            rejected += not expected
    assert checked > 50 and 0 < rejected < checked


def test_unsupported_keywords_are_refused():
    with pytest.raises(UnsupportedSchema):
        compile_predicate({"type": "object", "patternProperties": {"^x": {}}})
    with pytest.raises(UnsupportedSchema):
        compile_predicate({"enum": [1, True]})


def test_recursive_refs():
    schema = {
        "$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
        "$ref": "#/$defs/node",
    }
    predicate = compile_predicate(schema)
    assert predicate([[[]], []]) and not predicate([[1]])
