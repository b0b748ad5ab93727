"""The whole ingest job: the synthetic fault matrix, invariants, determinism, clear errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from PIL import Image

from components.vist_example_gen import reasons
from components.vist_example_gen.options import IngestConfig
from components.vist_example_gen.pipeline import ingest
from vistflow import example_format as ef
from vistflow.errors import VistflowError
from vistflow.records import SPLITS

from .conftest import (
    context,
    five,
    image_bytes,
    read_examples,
    read_rejects,
    steps,
    texts,
    write_vist_root,
)


def sis_runs(root):
    """split -> [(story_id, album_id, [(order, photo, text)])]: contiguous runs, as in the file."""
    out = {}
    for split in SPLITS:
        doc = json.loads((root / "sis" / f"{split}.story-in-sequence.json").read_text())
        runs = []
        for [ann] in doc["annotations"]:
            if not runs or runs[-1][0] != ann["story_id"]:
                runs.append((ann["story_id"], ann["album_id"], []))
            runs[-1][2].append(
                (ann["worker_arranged_photo_order"], ann["photo_flickr_id"], ann["text"])
            )
        out[split] = runs
    return out


def test_fault_matrix(synth_faulty, faulty_ingest):
    out, report = faulty_ingest
    faults = json.loads((synth_faulty / "faults.json").read_text())
    rejects = read_rejects(out / "rejects.jsonl")
    story_rejects = {(r["split"], r["id"]): r for r in rejects if r["kind"] == "story"}
    image_rejects = {r["id"]: r for r in rejects if r["kind"] == "image"}
    examples = read_examples(out / "examples")
    accepted = {(s, context(e, ef.ID)): e for s, exs in examples.items() for e in exs}

    assert {f["kind"] for f in faults} >= {
        "missing_image", "zero_byte", "truncated_jpeg", "not_an_image", "huge_dimensions",
        "grayscale", "cmyk", "rgba", "palette", "sixteen_bit", "png_as_jpg",
        "story_4_photos", "story_6_photos", "empty_text", "duplicate_story_id",
    }  # fmt: skip
    faulted_stories = set()
    for fault in faults:
        split = fault["split"]
        if "photo_id" in fault:
            stories = fault["story_ids"]
            if fault["expected"] == "reject":
                bad = image_rejects.pop(fault["photo_id"])
                assert (bad["reason"], bad["split"]) == (fault["reason"], split), fault
                assert bad["used_by"] == [f"sis:{s}" for s in sorted(stories)]
                # The file to fix (or where it was looked for).
                where = fault["file"] or f"images/{split}/{fault['photo_id']}.*"
                assert bad["source"] == str(synth_faulty / where)
                for story_id in stories:
                    r = story_rejects[(split, story_id)]
                    assert r["reason"] == fault["reason"], (fault, r)
                    assert (
                        fault["photo_id"] in r["failing_photos"]
                        and fault["photo_id"] in r["detail"]
                    )
            else:  # converted / mislabelled images: every story using them is accepted
                assert fault["photo_id"] not in image_rejects
                for story_id in stories:
                    example = accepted[(split, story_id)]
                    assert fault["photo_id"] in [p for [p] in steps(example, ef.PHOTO_ID)]
        else:
            stories = [fault["story_id"]]
            r = story_rejects[(split, fault["story_id"])]
            assert r["reason"] == fault["reason"], (fault, r)
            if fault["kind"] == "duplicate_story_id":
                # The first occurrence (the original album) is kept, the later one rejected.
                assert (
                    context(accepted[(split, fault["story_id"])], ef.ALBUM_ID)
                    == fault["original_album_id"]
                )
        faulted_stories |= {(split, s) for s in stories if fault["expected"] == "reject"}
    assert image_rejects == {}  # no image rejected without a fault behind it
    assert set(story_rejects) == faulted_stories  # and no story either

    # Every other story in the SIS files is accepted.
    runs = sis_runs(synth_faulty)
    clean = {(s, sid) for s in SPLITS for sid, _, _ in runs[s]} - faulted_stories
    assert clean and clean <= set(accepted)


def test_invariant_per_split_against_the_input_files(synth_faulty, faulty_ingest):
    out, report = faulty_ingest
    runs = sis_runs(synth_faulty)
    rejects = read_rejects(out / "rejects.jsonl")
    examples = read_examples(out / "examples")
    for split in SPLITS:
        section = report[split]
        assert section["input"] == len(runs[split])  # every story occurrence in the file
        assert section["accepted"] == len(examples[split])
        assert section["rejected"] == sum(
            1 for r in rejects if r["kind"] == "story" and r["split"] == split
        )
        assert section["input"] == section["accepted"] + section["rejected"]
        assert sum(section["by_reason"].values()) == section["rejected"]
        assert section["invariant_ok"] is True
    assert report["totals"]["input"] == 40


def test_examples_carry_the_annotations_and_absolute_uris(synth_faulty, faulty_ingest):
    out, _ = faulty_ingest
    runs = {(s, sid, album): rows for s in SPLITS for sid, album, rows in sis_runs(synth_faulty)[s]}
    for split, examples in read_examples(out / "examples").items():
        for example in examples:
            story_id, album = context(example, ef.ID), context(example, ef.ALBUM_ID)
            assert (context(example, ef.SPLIT), context(example, ef.TASK)) == (split, "sis")
            rows = sorted(runs[(split, story_id, album)])
            assert steps(example, ef.PHOTO_ID) == [[photo] for _, photo, _ in rows]
            assert steps(example, ef.TEXT) == [[text] for _, _, text in rows]
            uris = [u for [u] in steps(example, ef.IMAGE_URI)]
            assert [u.rsplit("/", 1)[1].split(".")[0] for u in uris] == [p for _, p, _ in rows]
            assert all(u.startswith(str(synth_faulty / "images" / split)) for u in uris)
            assert all(Image.open(u).size for u in uris)


def test_converted_modes_match_the_files(synth_faulty, faulty_ingest):
    _, report = faulty_ingest
    # Independent count: the stored mode of every usable referenced image, opened with PIL.
    photos = {
        (s, p) for s in SPLITS for _, _, rows in sis_runs(synth_faulty)[s] for _, p, _ in rows
    }
    bad = {
        r["id"] for r in read_rejects(faulty_ingest[0] / "rejects.jsonl") if r["kind"] == "image"
    }
    modes = Counter()
    for split, photo in photos - {(s, p) for s in SPLITS for p in bad}:
        [path] = (synth_faulty / "images" / split).glob(f"{photo}.*")
        modes[Image.open(path).mode] += 1
    images = report["images"]
    assert images["converted"] == {m: n for m, n in sorted(modes.items()) if m != "RGB"}
    assert {"L", "CMYK", "RGBA", "P", "I;16"} <= set(images["converted"])
    assert images["checked"] == len(photos) and images["rejected"] == len(bad) == 5
    assert images["by_reason"] == {
        reasons.MISSING_IMAGE: 1, reasons.EMPTY_FILE: 1, reasons.NOT_AN_IMAGE: 1,
        reasons.UNDECODABLE: 1, reasons.TOO_LARGE: 1,
    }  # fmt: skip
    text = report["text"]["train"]
    assert text["sentences"] == 5 * report["train"]["accepted"]
    assert text["vocab"] > 50 and text["top_words"][0][1] >= text["top_words"][-1][1]


@pytest.fixture()
def tiny_root(tmp_path):
    stories = {
        "train": [("t1", "A", five("a"), texts("t1"))],
        "val": [("v1", "B", five("b"), texts("v1"))],
        "test": [("x1", "C", five("c"), texts("x1"))],
    }
    images = {
        (s, p): image_bytes()
        for s, pre in (("train", "a"), ("val", "b"), ("test", "c"))
        for p in five(pre)
    }
    return write_vist_root(tmp_path / "root", stories, images)


def assert_no_output(out):
    assert not out.exists()
    assert not out.with_name(out.name + ".incomplete").exists()


def test_broken_json_is_a_clear_error_without_outputs(tiny_root, tmp_path):
    path = tiny_root / "sis" / "val.story-in-sequence.json"
    doc = path.read_text()
    at = doc.index("}], [{", doc.index('"annotations"'))  # between annotations 0 and 1
    path.write_text(doc[:at] + "}] [{" + doc[at + 6 :])  # a missing comma
    out = tmp_path / "out"
    with pytest.raises(VistflowError) as err:
        ingest(IngestConfig(data_root=str(tiny_root)), str(out))
    assert str(err.value).startswith(f"{path}: $.annotations[1]: malformed JSON at byte {at + 3}")
    assert_no_output(out)


# A missing split file is an absent split, not an error (test_partial_inputs.py).
@pytest.mark.parametrize("damage", ["no_root", "dir_as_file"])
def test_missing_inputs_are_named_before_anything_runs(tiny_root, tmp_path, damage):
    target = tiny_root / "sis" / "test.story-in-sequence.json"
    root = tiny_root
    if damage == "no_root":
        root, target = tmp_path / "nowhere", tmp_path / "nowhere"
    else:
        target.unlink()
        target.mkdir()
    out = tmp_path / "out"
    with pytest.raises(VistflowError, match=str(target)):
        ingest(IngestConfig(data_root=str(root)), str(out))
    assert_no_output(out)


def test_refuses_to_replace_a_directory_it_did_not_write(tiny_root, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(VistflowError, match="refusing to replace"):
        ingest(IngestConfig(data_root=str(tiny_root)), str(out))
    assert (out / "thesis.tex").read_text() == "years of work"
    assert not (tmp_path / "precious.incomplete").exists()


def test_sis_and_dii_together(tiny_root, tmp_path):
    from vistflow.data import writers

    for split, pre, album in (("train", "a", "A"), ("val", "b", "B"), ("test", "c", "C")):
        annotations = [
            writers.dii_annotation(album, p, order, f"{p} {worker} .", worker_id=worker)
            for order, p in enumerate(five(pre))
            for worker in ("W1", "W2")
        ]
        if split == "val":  # one photo of this album described twice but with one empty text
            annotations[3] = dict(annotations[3], text="")
        writers.write_vist_file(
            tiny_root / "dii" / f"{split}.description-in-isolation.json",
            "dii",
            annotations,
            albums=[writers.album_entry(album, 5)],
            images=[writers.image_entry(p, album) for p in five(pre)],
        )
    out = tmp_path / "out"
    report = ingest(IngestConfig(data_root=str(tiny_root), tasks=("sis", "dii")), str(out))
    assert report["train"]["by_task"]["dii"] == {
        "input": 1, "accepted": 1, "rejected": 0, "by_reason": {}, "faults": {},
    }  # fmt: skip
    assert report["val"]["by_task"]["dii"]["by_reason"] == {reasons.EMPTY_TEXT: 1}
    assert report["images"]["checked"] == 15  # SIS and DII share the photos: checked once each
    [dii, sis] = sorted(read_examples(out / "examples")["train"], key=lambda e: context(e, ef.TASK))
    assert (context(dii, ef.TASK), context(dii, ef.ID), context(sis, ef.TASK)) == (
        "dii",
        "A",
        "sis",
    )
    assert steps(dii, ef.TEXT)[0] == ["a0 W1 .", "a0 W2 ."]


def test_synthetic_dii_sequences_are_ingested(synth_clean, tmp_path):
    """Every DII sequence `vistflow synth` writes is accepted, beside the SIS stories."""
    out = tmp_path / "out"
    report = ingest(IngestConfig(data_root=str(synth_clean), tasks=("sis", "dii")), str(out))
    for split in SPLITS:
        dii = report[split]["by_task"]["dii"]
        assert dii["input"] > 0 and dii["accepted"] == dii["input"], (split, dii)
    examples = read_examples(out / "examples")["train"]
    dii = [e for e in examples if context(e, ef.TASK) == "dii"]
    assert dii and all(len(steps(e, ef.TEXT)) == 5 for e in dii)
    assert all(len(texts) == 3 for e in dii for texts in steps(e, ef.TEXT))


def test_karpathy_format(tmp_path):
    from vistflow.data import writers

    images = tmp_path / "imgs"
    (images / "val2014").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "d.jpg"):
        (images / "val2014" / name).write_bytes(image_bytes())

    def entry(name, split, sentences, cocoid):
        return {
            "filepath": "val2014", "filename": name, "split": split, "cocoid": cocoid,
            "sentences": [{"raw": s, "tokens": s.lower().split()} for s in sentences],
        }  # fmt: skip

    data = tmp_path / "dataset_coco.json"
    writers.write_karpathy_file(
        data,
        [
            entry("a.jpg", "restval", ["A dog runs.", "A brown dog."], 1),
            entry("b.jpg", "val", ["A cat.", ""], 2),
            entry("c.jpg", "test", ["Gone."], 3),
            entry("d.jpg", "test", ["Again."], 1),
            {"filename": "e.jpg", "split": "train"},
        ],
        dataset="coco",
    )
    out = tmp_path / "out"
    report = ingest(
        IngestConfig(format="karpathy", karpathy_json=str(data), image_root=str(images)), str(out)
    )
    assert {s: (report[s]["input"], report[s]["accepted"], report[s]["rejected"]) for s in SPLITS} == {
        "train": (2, 1, 1), "val": (1, 0, 1), "test": (2, 0, 2),
    }  # fmt: skip
    reasons_by_id = {(r["kind"], r["id"]): r["reason"] for r in read_rejects(out / "rejects.jsonl")}
    assert reasons_by_id == {
        ("story", "e"): reasons.MALFORMED_RECORD,
        ("story", "2"): reasons.EMPTY_TEXT,
        ("story", "3"): reasons.MISSING_IMAGE,
        ("story", "1"): reasons.DUPLICATE_ID,
        ("image", "3"): reasons.MISSING_IMAGE,
    }
    [example] = read_examples(out / "examples")["train"]
    assert (context(example, ef.ID), context(example, ef.TASK)) == ("1", "caption")
    assert steps(example, ef.TEXT) == [["A dog runs.", "A brown dog."]]
    assert steps(example, ef.IMAGE_URI) == [[str(images / "val2014" / "a.jpg")]]
