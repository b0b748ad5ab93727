from __future__ import annotations

import json
from pathlib import Path

import pytest

from vistflow.data.jsonstream import (
    iter_array_items,
    json_path,
    locate_syntax_error,
    stream_document,
)
from vistflow.errors import InputFormatError


def test_json_path_rendering():
    assert json_path(()) == "$"
    assert json_path(("annotations", 12, 0, "story_id")) == "$.annotations[12][0].story_id"
    assert json_path(("a b", 1)) == "$['a b'][1]"


def test_stream_document_builds_items_exactly_like_json(tmp_path: Path):
    doc = {
        "info": {"nested": [{"a": [1, 2.5, None, True, False]}, [], {}], "s": "é\u2028"},
        "big": [[{"x": [[1], {"y": {}}]}], {"k": "v"}, 3, "str", None, [], {}],
        "other": [1, 2],
        "after": "tail",
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, indent=2))
    items = []

    top = stream_document(
        path, ("big", "missing"), lambda key, i, item: items.append((key, i, item))
    )

    assert items == [("big", i, item) for i, item in enumerate(doc["big"])]
    assert top.array_lengths == {"big": 7}
    assert top.values == {k: v for k, v in doc.items() if k != "big"}


def test_streamed_key_that_is_not_an_array_is_kept_as_a_value(tmp_path: Path):
    path = tmp_path / "doc.json"
    path.write_text('{"big": {"not": "an array"}}')
    top = stream_document(path, ("big",), lambda *a: pytest.fail("no items expected"))
    assert top.values == {"big": {"not": "an array"}} and top.array_lengths == {}


@pytest.mark.parametrize(
    ("text", "offset", "line", "column", "path", "truncated"),
    [
        ('{"a": [1, 2,, 3]}', 12, 1, 13, "$.a[2]", False),
        # yajl reports the byte that completes the offending token.
        ('{"a": [1, 2],\n "b": {"c": tru}}', 29, 2, 16, "$.b.c", False),
        ('{"a": {"b": 1} "c": 2}', 17, 1, 18, "$", False),
        ('{"a": [{"b": 1}, {"b": 2', 24, 1, 25, "$.a[1]", True),
        ('{"a": 1}\n\nx', 10, 3, 1, "$", False),
    ],
)
def test_locate_syntax_error(tmp_path: Path, text, offset, line, column, path, truncated):
    file = tmp_path / "bad.json"
    file.write_text(text)
    loc = locate_syntax_error(file)
    assert (loc.offset, loc.line, loc.column, loc.path, loc.truncated) == (
        offset,
        line,
        column,
        path,
        truncated,
    )


def test_syntax_error_far_into_a_big_file_is_located_exactly(tmp_path: Path):
    items = [{"id": str(i), "text": "x" * 50} for i in range(5000)]  # ~350 KB: several chunks
    text = json.dumps({"annotations": items})
    bad_at = text.index('"id": "4321"') - 2  # the space between item 4320's "," and "{"
    text = text[:bad_at] + ";" + text[bad_at + 1 :]
    path = tmp_path / "train.story-in-sequence.json"
    path.write_text(text)
    with pytest.raises(InputFormatError) as err:
        list(iter_array_items(path, "annotations"))
    assert err.value.path == "$.annotations[4321]"
    assert f"at byte {bad_at} (line 1, column {bad_at + 1})" in err.value.reason


def test_iter_array_items(tmp_path: Path):
    path = tmp_path / "doc.json"
    path.write_text('{"x": {"annotations": [9]}, "annotations": [[1], {"a": 2}]}')
    assert list(iter_array_items(path, "annotations")) == [(0, [1]), (1, {"a": 2})]
    path.write_text('{"annotations": "nope"}')
    with pytest.raises(InputFormatError, match=r"\$\.annotations: expected an array, got string"):
        list(iter_array_items(path, "annotations"))
