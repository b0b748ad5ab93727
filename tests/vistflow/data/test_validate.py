from __future__ import annotations

import json
from pathlib import Path

import pytest

from vistflow.data import writers
from vistflow.data.validate import ValidationSummary, infer_kind, validate_file
from vistflow.errors import InputFormatError, VistflowError


def _error(path: Path, kind: str | None = None) -> InputFormatError:
    with pytest.raises(InputFormatError) as err:
        validate_file(path, kind)
    message = str(err.value)
    # Every message names the file, the JSON path and the reason.
    assert message.startswith(f"{path}: {err.value.path}: ")
    assert message.endswith(err.value.reason)
    return err.value


def _sis_doc(n_stories: int = 3) -> dict:
    anns = [
        [writers.sis_annotation(f"s{s}", "a", f"p{s}{i}", i, f"s{s} t{i} .")]
        for s in range(n_stories)
        for i in range(5)
    ]
    return {
        "info": {"version": "1"},
        "type": "story_in_sequence",
        "albums": [writers.album_entry("a", 15)],
        "images": [
            writers.image_entry(f"p{s}{i}", "a") for s in range(n_stories) for i in range(5)
        ],
        "annotations": anns,
    }


def _write(tmp_path: Path, doc: dict | str, name: str = "train.story-in-sequence.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_valid_sis_file_summary(sis_file: Path):
    summary = validate_file(sis_file)
    assert isinstance(summary, ValidationSummary)
    assert (summary.kind, summary.declared_type) == ("sis", "story_in_sequence")
    assert dict(summary.counts) == {"albums": 2, "images": 10, "annotations": 15}
    assert summary.size_bytes == sis_file.stat().st_size
    assert summary.describe().startswith(f"{sis_file}: OK sis (")
    assert summary.describe().endswith("2 albums, 10 images, 15 annotations")


def test_missing_field_names_file_path_and_reason(tmp_path: Path):
    doc = _sis_doc()
    del doc["annotations"][12][0]["story_id"]
    err = _error(_write(tmp_path, doc))
    assert err.path == "$.annotations[12][0].story_id"
    assert err.reason == "missing required field"


def test_wrong_type(tmp_path: Path):
    doc = _sis_doc()
    doc["annotations"][7][0]["worker_arranged_photo_order"] = "2"
    err = _error(_write(tmp_path, doc))
    assert err.path == "$.annotations[7][0].worker_arranged_photo_order"
    assert err.reason == "expected integer, got string '2'"


@pytest.mark.parametrize(
    ("mutate", "path", "reason"),
    [
        (
            lambda d: d["images"][3].pop("album_id"),
            "$.images[3].album_id",
            "missing required field",
        ),
        (lambda d: d["images"][0].update(id=""), "$.images[0].id", "must not be empty"),
        (
            lambda d: d["albums"][0].update(photos="many"),
            "$.albums[0].photos",
            "'many' does not match '^[0-9]+$'",
        ),
        (
            lambda d: d["albums"][0].update(photos=True),
            "$.albums[0].photos",
            "matches none of the allowed forms: expected string, got boolean True; or expected integer",
        ),
        (
            lambda d: d["annotations"][2].append({}),
            "$.annotations[2]",
            "expected exactly 1 item(s), got 2",
        ),
        (
            lambda d: d["annotations"].__setitem__(1, d["annotations"][1][0]),
            "$.annotations[1]",
            "expected array, got object",
        ),
        (
            lambda d: d["annotations"][0][0].update(worker_arranged_photo_order=-1),
            "$.annotations[0][0].worker_arranged_photo_order",
            "must be >= 0, got -1",
        ),
        (
            lambda d: d["annotations"][0][0].update(text=True),
            "$.annotations[0][0].text",
            "expected string, got boolean True",
        ),
        (lambda d: d.pop("info"), "$.info", "missing required field"),
        (lambda d: d.update(type=3), "$.type", "expected string, got integer 3"),
        (lambda d: d.update(images={}), "$.images", "expected array, got object {}"),
    ],
)
def test_schema_errors(tmp_path: Path, mutate, path: str, reason: str):
    doc = _sis_doc()
    mutate(doc)
    err = _error(_write(tmp_path, doc))
    assert err.path == path
    assert reason in err.reason


def test_valid_edge_cases_are_accepted(tmp_path: Path):
    doc = _sis_doc()
    del doc["images"][0]["url_o"]  # absent for some real images
    doc["annotations"][0][0]["text"] = ""  # the ingest stage rejects it, with a reason code
    doc["albums"][0]["photos"] = 15  # a count as a number
    doc["annotations"][1][0]["extra"] = {"nested": [1, 2]}  # unknown fields are tolerated
    assert validate_file(_write(tmp_path, doc)).counts["annotations"] == 15


def test_malformed_json_gives_line_column_and_path(tmp_path: Path):
    text = json.dumps(_sis_doc(), indent=1)
    # Break the separator after the text of annotation [2][0] ("s0 t2 .").
    broken = text.replace('"text": "s0 t2 .",', '"text": "s0 t2 ." ,,', 1)
    offset = broken.index(",,") + 1  # the second comma is the offending byte
    line = broken.count("\n", 0, offset) + 1
    column = offset - broken.rindex("\n", 0, offset)
    err = _error(_write(tmp_path, broken))
    assert err.path == "$.annotations[2][0]"
    assert f"malformed JSON at byte {offset} (line {line}, column {column})" in err.reason


def test_column_counts_characters_not_bytes(tmp_path: Path):
    path = tmp_path / "train.story-in-sequence.json"
    path.write_bytes('{"info": {"é€": x}}'.encode())
    err = _error(path)
    assert err.path == "$.info['é€']"
    assert "byte 19 (line 1, column 17)" in err.reason


def test_truncated_file(tmp_path: Path, sis_file: Path):
    data = sis_file.read_bytes()
    path = tmp_path / "train.story-in-sequence.json"
    path.write_bytes(data[: len(data) // 2])
    err = _error(path)
    assert err.reason.startswith("truncated JSON")
    assert f"byte {len(data) // 2} " in err.reason
    assert err.path.startswith("$.annotations[")


def test_empty_and_non_object_files(tmp_path: Path):
    assert _error(_write(tmp_path, "")).reason == "empty file: expected a JSON object"
    assert _error(_write(tmp_path, " \n ")).reason == "empty file: expected a JSON object"
    assert _error(_write(tmp_path, "{")).reason.startswith("truncated JSON")
    err = _error(_write(tmp_path, "[1, 2]"))
    assert (err.path, err.reason) == ("$", "top-level value must be an object, got array")
    err = _error(_write(tmp_path, '{"info": {}} trailing'))
    assert "trailing garbage" in err.reason


def test_first_error_in_document_order_wins(tmp_path: Path):
    doc = _sis_doc()
    doc["annotations"][3][0]["album_id"] = 1
    doc["annotations"][9][0]["album_id"] = 2
    assert _error(_write(tmp_path, doc)).path == "$.annotations[3][0].album_id"


def test_dii_file(tmp_path: Path):
    anns = [writers.dii_annotation("a", f"p{i}", i, f"d{i}") for i in range(5)]
    path = tmp_path / "dii" / "val.description-in-isolation.json"
    writers.write_vist_file(path, "dii", anns, albums=[writers.album_entry("a", 5)])
    summary = validate_file(path)
    assert (summary.kind, summary.counts["annotations"]) == ("dii", 5)
    # A SIS annotation in a DII file misses the DII order field.
    sis_path = tmp_path / "train.story-in-sequence.json"
    writers.write_vist_file(sis_path, "sis", [writers.sis_annotation("s", "a", "p", 0, "t")])
    err = _error(sis_path, "dii")
    assert err.path == "$.annotations[0][0].photo_order_in_story"


def test_karpathy_file(tmp_path: Path):
    image = {
        "filename": "1.jpg",
        "split": "restval",
        "imgid": 0,
        "sentences": [{"raw": "A dog.", "tokens": ["a", "dog"], "imgid": 0, "sentid": 0}],
    }
    path = tmp_path / "dataset_flickr8k.json"
    writers.write_karpathy_file(path, [image, dict(image, filename="2.jpg")])
    summary = validate_file(path)
    assert (summary.kind, summary.declared_type, dict(summary.counts)) == (
        "karpathy",
        "flickr8k",
        {"images": 2},
    )
    writers.write_karpathy_file(path, [image, dict(image, split="dev")])
    err = _error(path)
    assert (err.path, err.reason) == (
        "$.images[1].split",
        "expected one of train, val, test, restval, got string 'dev'",
    )


def test_kind_inference():
    assert infer_kind("x/train.story-in-sequence.json") == "sis"
    assert infer_kind("test.description-in-isolation.json") == "dii"
    assert infer_kind("/data/dataset_coco.json") == "karpathy"
    with pytest.raises(VistflowError, match="cannot tell the file kind"):
        infer_kind("stories.json")


def test_missing_file_is_a_user_error(tmp_path: Path):
    with pytest.raises(VistflowError, match="no such file"):
        validate_file(tmp_path / "train.story-in-sequence.json")


def test_writer_output_is_valid_and_atomic(tmp_path: Path):
    path = tmp_path / "out" / "test.story-in-sequence.json"

    def failing():
        yield writers.sis_annotation("s", "a", "p", 0, "t")
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        writers.write_vist_file(path, "sis", failing())
    assert not path.exists() and list(path.parent.iterdir()) == []
    writers.write_vist_file(path, "sis", [writers.sis_annotation("s", "a", "p", 0, "t")])
    assert validate_file(path).counts["annotations"] == 1
