"""Roots holding only some splits, and malformed annotations counted once (issue 10, items 3, 5)."""

from __future__ import annotations

import json

import pytest

from commands import main as cli
from components.vist_example_gen import reasons
from components.vist_example_gen.options import IngestConfig
from components.vist_example_gen.pipeline import ingest
from vistflow.data import writers
from vistflow.errors import VistflowError
from vistflow.records import SPLITS

from .conftest import five, image_bytes, read_examples, read_rejects, texts, write_vist_root


def val_only_root(tmp_path):
    """A root with only sis/val.story-in-sequence.json (and its images)."""
    root = write_vist_root(
        tmp_path / "root",
        {"val": [("v1", "B", five("b"), texts("v1")), ("v2", "B", five("b"), texts("v2"))]},
        {("val", p): image_bytes() for p in five("b")},
    )
    for split in ("train", "test"):
        (root / "sis" / f"{split}.story-in-sequence.json").unlink()
    return root


def test_ingests_the_splits_that_exist_and_names_the_absent_ones(tmp_path):
    root = val_only_root(tmp_path)
    out = tmp_path / "out"
    report = ingest(IngestConfig(data_root=str(root)), str(out))
    assert report["splits_present"] == ["val"]
    assert report["splits_absent"] == ["train", "test"]
    assert report["files_absent"] == [
        str(root / "sis" / "train.story-in-sequence.json"),
        str(root / "sis" / "test.story-in-sequence.json"),
    ]
    assert (report["val"]["input"], report["val"]["accepted"], report["val"]["absent"]) == (
        2,
        2,
        False,
    )
    for split in ("train", "test"):
        assert report[split]["absent"] is True and report[split]["input"] == 0
    # Examples only for the present split: no empty Split-train/Split-test directories.
    assert sorted(p.name for p in (out / "examples").iterdir()) == ["Split-val"]
    assert [len(v) for v in read_examples(out / "examples").values()] == [2]
    assert json.loads((out / "report.json").read_text())["splits_absent"] == ["train", "test"]
    html = (out / "report.html").read_text()
    assert 'id="splits-absent"' in html and "train, test" in html
    assert "test.story-in-sequence.json" in html


def test_cli_prints_absent_splits(tmp_path, capsys):
    root = val_only_root(tmp_path)
    assert cli.main(["ingest", "--data-root", str(root), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert "train   " in printed and "absent" in printed
    assert f"val{2:>13}{2:>10}{0:>10}" in printed


def test_dii_only_splits_count_as_present_with_sis_and_dii(tmp_path):
    root = val_only_root(tmp_path)
    annotations = [
        writers.dii_annotation("C", p, order, f"{p} {w} .", worker_id=w)
        for w in ("W1", "W2", "W3")  # three passes over five photos, as in the real files
        for order, p in enumerate(five("c"))
    ]
    writers.write_vist_file(
        root / "dii" / "test.description-in-isolation.json",
        "dii",
        annotations,
        albums=[writers.album_entry("C", 5)],
        images=[writers.image_entry(p, "C") for p in five("c")],
    )
    (root / "images" / "test").mkdir(exist_ok=True)
    for p in five("c"):
        (root / "images" / "test" / f"{p}.jpg").write_bytes(image_bytes())
    report = ingest(IngestConfig(data_root=str(root), tasks=("sis", "dii")), str(tmp_path / "o"))
    assert (report["splits_present"], report["splits_absent"]) == (["val", "test"], ["train"])
    assert report["test"]["by_task"]["dii"]["accepted"] == 1
    assert len(report["files_absent"]) == 4  # sis train/test, dii train/val


def test_no_annotation_file_at_all_is_one_clear_error(tmp_path, capsys):
    root = val_only_root(tmp_path)
    (root / "sis" / "val.story-in-sequence.json").unlink()
    with pytest.raises(VistflowError, match="no annotation file of any split"):
        ingest(IngestConfig(data_root=str(root)), str(tmp_path / "out"))
    assert cli.main(["ingest", "--data-root", str(root), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"vistflow ingest: error: {root}: no annotation file of any split "
        "(expected sis/<train|val|test>.story-in-sequence.json)"
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.incomplete").exists()


def test_executor_lists_only_present_splits(tmp_path):
    from tfx.types import artifact_utils

    from components.vist_example_gen import VistExampleGen

    from .test_executor import artifacts, run_do

    root = val_only_root(tmp_path)
    outputs = artifacts(tmp_path)
    run_do(VistExampleGen(data_root=str(root)), outputs)
    examples = outputs["examples"][0]
    assert artifact_utils.decode_split_names(examples.split_names) == ["val"]
    assert sorted(p.name for p in (tmp_path / "examples" / "7").iterdir()) == ["Split-val"]
    report = json.loads((tmp_path / "report" / "7" / "report.json").read_text())
    assert report["splits_absent"] == ["train", "test"]


def test_karpathy_splits_absent_are_those_without_records(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "a.jpg").write_bytes(image_bytes())
    data = tmp_path / "dataset_flickr8k.json"
    entry = {"filename": "a.jpg", "split": "train", "sentences": [{"raw": "A dog .", "tokens": []}]}
    writers.write_karpathy_file(data, [entry], dataset="flickr8k")
    out = tmp_path / "out"
    report = ingest(
        IngestConfig(format="karpathy", karpathy_json=str(data), image_root=str(images)), str(out)
    )
    assert (report["splits_present"], report["splits_absent"]) == (["train"], ["val", "test"])
    assert sorted(p.name for p in (out / "examples").iterdir()) == ["Split-train"]


# --- item 5: one malformed story is one reject ------------------------------------------------


def test_story_with_a_string_photo_order_is_one_reject(tmp_path):
    """`worker_arranged_photo_order: "3"` used to give a malformed line plus incomplete_story."""
    stories = {"train": [("t1", "A", five("a"), texts("t1")), ("t2", "A", five("a"), texts("t2"))]}
    root = write_vist_root(
        tmp_path / "root", stories, {("train", p): image_bytes() for p in five("a")}
    )
    path = root / "sis" / "train.story-in-sequence.json"
    doc = json.loads(path.read_text())
    doc["annotations"][3][0]["worker_arranged_photo_order"] = "3"  # story t1, fourth photo
    doc["annotations"].append([{"album_id": "A", "text": "who am i ?"}])  # no story_id
    path.write_text(json.dumps(doc))
    out = tmp_path / "out"
    report = ingest(IngestConfig(data_root=str(root)), str(out))
    story_lines = [r for r in read_rejects(out / "rejects.jsonl") if r["kind"] == "story"]
    assert [(r["id"], r["reason"]) for r in story_lines] == [
        ("$.annotations[10][0].story_id", reasons.MALFORMED_RECORD),
        ("t1", reasons.MALFORMED_RECORD),
    ]
    t1 = story_lines[1]
    assert t1["detail"].startswith(
        "malformed_record: $.annotations[3][0].worker_arranged_photo_order: "
        "expected integer, got string '3'"
    )
    assert t1["reasons"] == [reasons.MALFORMED_RECORD, reasons.INCOMPLETE_STORY]
    train = report["train"]
    # Two stories plus one annotation that names no story: three inputs, each counted once.
    assert (train["input"], train["accepted"], train["rejected"]) == (3, 1, 2)
    assert train["input"] == train["accepted"] + train["rejected"]
    assert train["by_reason"] == {reasons.MALFORMED_RECORD: 2}
    assert report["totals"]["input"] == 3


def test_dii_annotation_with_a_bad_order_is_a_fault_of_its_sequence(tmp_path):
    root = write_vist_root(tmp_path / "root", {}, {("train", p): image_bytes() for p in five("a")})
    annotations = [
        writers.dii_annotation("A", p, order, f"{p} {w} .", worker_id=w)
        for w in ("W1", "W2", "W3")
        for order, p in enumerate(five("a"))
    ]
    annotations[7]["photo_order_in_story"] = "2"
    annotations.append(writers.dii_annotation("Z", "z0", 0, "z") | {"photo_flickr_id": 7})
    for split in SPLITS:
        writers.write_vist_file(
            root / "dii" / f"{split}.description-in-isolation.json",
            "dii",
            annotations if split == "train" else [],
            albums=[],
            images=[],
        )
    out = tmp_path / "out"
    report = ingest(IngestConfig(data_root=str(root), tasks=("dii",)), str(out))
    lines = read_rejects(out / "rejects.jsonl")
    assert [(r["id"], r["reason"], r["source"].split(": ", 1)[1]) for r in lines] == [
        ("A", reasons.MALFORMED_RECORD, '$.annotations[*][?(@.album_id=="A")]'),
        ("Z", reasons.MALFORMED_RECORD, "$.annotations[15][0].photo_flickr_id"),
    ]
    assert "$.annotations[7][0].photo_order_in_story" in lines[0]["detail"]
    train = report["train"]
    assert (train["input"], train["accepted"], train["rejected"]) == (2, 0, 2)
