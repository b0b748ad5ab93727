"""Ingest of the real-format fixtures (tests/fixtures/README.md): every record accepted."""

from __future__ import annotations

from real_format import KARPATHY_REAL, karpathy_images, vist_root

from components.vist_example_gen.options import IngestConfig
from components.vist_example_gen.pipeline import ingest
from vistflow import example_format as ef

from .conftest import context, read_examples, read_rejects, steps


def test_real_vist_root_ingests_sis_and_dii(tmp_path):
    root = vist_root(tmp_path / "vist")
    out = tmp_path / "out"
    report = ingest(IngestConfig(data_root=str(root), tasks=("sis", "dii")), str(out))
    assert read_rejects(out / "rejects.jsonl") == []
    for split in ("train", "val", "test"):
        section = report[split]
        assert section["by_task"]["sis"]["accepted"] == 5
        assert section["by_task"]["dii"]["accepted"] == 1
        assert section["input"] == section["accepted"] == 6
    assert report["splits_absent"] == []
    # Each photo is checked once, however many stories and DII passes use it: train stories
    # use all 12 album photos, val all 10, and the 5 test stories share one 5-photo sequence.
    assert report["images"]["checked"] == 12 + 10 + 5
    examples = read_examples(out / "examples")
    test_sis = [e for e in examples["test"] if context(e, ef.TASK) == "sis"]
    assert len({tuple(p for [p] in steps(e, ef.PHOTO_ID)) for e in test_sis}) == 1
    # The .png photo was found under its real extension.
    uris = {u for e in examples["test"] for [u] in steps(e, ef.IMAGE_URI)}
    assert any(u.endswith(".png") for u in uris)
    # Placeholders and HTML leftovers are carried verbatim (tokenisation is the trainer's job).
    train_text = " ".join(t for e in examples["train"] for ts in steps(e, ef.TEXT) for t in ts)
    assert "[female] starred deeply into the wine bottle ." in train_text
    assert "& # 13 ;" in train_text


def test_real_root_with_only_val_ingests_val(tmp_path):
    root = vist_root(tmp_path / "vist", splits=("val",))
    report = ingest(IngestConfig(data_root=str(root)), str(tmp_path / "out"))
    assert (report["splits_present"], report["splits_absent"]) == (["val"], ["train", "test"])
    assert report["val"]["accepted"] == 5


def test_real_karpathy_files_ingest(tmp_path):
    coco_root = karpathy_images(KARPATHY_REAL / "dataset_coco.json", tmp_path / "coco")
    report = ingest(
        IngestConfig(
            format="karpathy",
            karpathy_json=str(KARPATHY_REAL / "dataset_coco.json"),
            image_root=str(coco_root),
        ),
        str(tmp_path / "coco_out"),
    )
    # restval is training data; every image accepted.
    assert {s: report[s]["accepted"] for s in ("train", "val", "test")} == {
        "train": 2,
        "val": 1,
        "test": 1,
    }
    assert report["totals"]["rejected"] == 0
    f8k_root = karpathy_images(KARPATHY_REAL / "dataset_flickr8k.json", tmp_path / "f8k")
    out = tmp_path / "f8k_out"
    report = ingest(
        IngestConfig(
            format="karpathy",
            karpathy_json=str(KARPATHY_REAL / "dataset_flickr8k.json"),
            image_root=str(f8k_root),
        ),
        str(out),
    )
    assert (report["totals"]["accepted"], report["totals"]["rejected"]) == (3, 0)
    [example] = read_examples(out / "examples")["train"]
    assert context(example, ef.ID) == "2513260012_03d33305cf"
    assert len(steps(example, ef.TEXT)[0]) == 5
