from __future__ import annotations

import json
from pathlib import Path

import pytest

from vistflow.data import readers, writers
from vistflow.errors import InputFormatError, VistflowError
from vistflow.records import DiiSequence, KarpathyImage, SisStory


def test_read_sis_groups_and_orders_shuffled_annotations(sis_file: Path):
    # The fixture file holds the 15 annotations in shuffled order.
    order_in_file = [a["story_id"] for _, a in readers.iter_sis_annotations(sis_file)]
    assert order_in_file != sorted(order_in_file)

    stories = {s.story_id: s for s in readers.read_sis(sis_file)}

    assert set(stories) == {"s1", "s2", "s3"}
    s1, s2, s3 = stories["s1"], stories["s2"], stories["s3"]
    assert s1 == SisStory(
        story_id="s1",
        album_id="a1",
        split="train",
        photo_ids=("p1", "p2", "p3", "p4", "p5"),
        sentences=tuple(f"s1 sentence {i} ." for i in range(5)),
        original_sentences=tuple(f"s1 sentence {i} ." for i in range(5)),
        source=str(sis_file),
    )
    # Same photos as s1, arranged the other way round by the worker: sentence i stays with
    # the photo the worker put at position i.
    assert s2.photo_ids == ("p5", "p4", "p3", "p2", "p1")
    assert s2.sentences == tuple(f"s2 sentence {i} ." for i in range(5))
    assert s3.album_id == "a2" and len(s3.photo_ids) == 5


def test_read_sis_yields_stories_in_first_appearance_order(tmp_path: Path, vist_files):
    anns = vist_files.story_annotations("b", "a", ["1", "2"]) + vist_files.story_annotations(
        "a", "a", ["3"]
    )
    path = vist_files.write_sis(tmp_path / "val.story-in-sequence.json", anns)
    assert [s.story_id for s in readers.read_sis(path)] == ["b", "a"]
    assert {s.split for s in readers.read_sis(path)} == {"val"}


def test_read_sis_passes_questionable_stories_through(tmp_path: Path, vist_files):
    """4 or 6 photos, empty text and duplicate photo orders are the ingest stage's call."""
    anns = (
        vist_files.story_annotations("four", "a", ["1", "2", "3", "4"])
        + vist_files.story_annotations("six", "a", ["1", "2", "3", "4", "5", "6"])
        + vist_files.story_annotations("empty", "a", ["1", "2"], texts=["", "fine ."])
    )
    # Same order twice: file order breaks the tie.
    anns.append(writers.sis_annotation("tie", "a", "x", 0, "first ."))
    anns.append(writers.sis_annotation("tie", "a", "y", 0, "second ."))
    path = vist_files.write_sis(tmp_path / "test.story-in-sequence.json", anns)

    stories = {s.story_id: s for s in readers.read_sis(path)}

    assert len(stories["four"].photo_ids) == 4
    assert len(stories["six"].photo_ids) == 6
    assert stories["empty"].sentences == ("", "fine .")
    assert stories["tie"].photo_ids == ("x", "y")


def test_a_story_id_reused_under_another_album_is_a_separate_story(tmp_path: Path, vist_files):
    anns = vist_files.story_annotations("dup", "a1", ["1", "2", "3", "4", "5"])
    anns += vist_files.story_annotations("x", "a2", ["6"])
    anns += vist_files.story_annotations(
        "dup", "a3", ["7", "8", "9", "10", "11"], texts=list("vwxyz")
    )
    path = vist_files.write_sis(tmp_path / "train.story-in-sequence.json", anns)

    stories = list(readers.read_sis(path))

    assert [(s.story_id, s.album_id) for s in stories] == [
        ("dup", "a1"),
        ("x", "a2"),
        ("dup", "a3"),
    ]
    assert stories[0].photo_ids == ("1", "2", "3", "4", "5")
    assert stories[2].photo_ids == ("7", "8", "9", "10", "11")
    assert stories[2].sentences == tuple("vwxyz")


def test_read_sis_orders_by_photo_order_not_file_position(tmp_path: Path, vist_files):
    anns = [
        writers.sis_annotation("s", "a", f"p{order}", order, f"t{order}")
        for order in (3, 0, 4, 1, 2)
    ]
    path = vist_files.write_sis(tmp_path / "train.story-in-sequence.json", anns)
    (story,) = readers.read_sis(path)
    assert story.photo_ids == ("p0", "p1", "p2", "p3", "p4")
    assert story.sentences == ("t0", "t1", "t2", "t3", "t4")


def test_split_is_inferred_from_the_file_name_or_required(tmp_path: Path, vist_files):
    path = vist_files.write_sis(
        tmp_path / "mine.json", vist_files.story_annotations("s", "a", ["1"])
    )
    with pytest.raises(VistflowError, match="cannot infer the split"):
        list(readers.read_sis(path))
    assert [s.split for s in readers.read_sis(path, split="val")] == ["val"]
    assert readers.split_from_filename("test.description-in-isolation.json") == "test"


def _write_raw(path: Path, annotations: list) -> Path:
    doc = {"info": {}, "type": "x", "albums": [], "images": [], "annotations": annotations}
    path.write_text(json.dumps(doc))
    return path


def test_on_malformed_receives_file_path_reason_and_record(tmp_path: Path):
    good = writers.sis_annotation("s", "a", "p", 0, "ok .")
    no_story = {k: v for k, v in good.items() if k != "story_id"}
    bad_order = dict(good, worker_arranged_photo_order="1")
    empty_album = dict(good, album_id="")
    path = _write_raw(
        tmp_path / "train.story-in-sequence.json",
        [[good], [no_story], "not a list", [], [bad_order], [empty_album], [7]],
    )
    reports = []

    stories = list(readers.read_sis(path, on_malformed=lambda *args: reports.append(args)))

    assert [s.story_id for s in stories] == ["s"]
    file = str(path)
    assert reports == [
        (file, "$.annotations[1][0].story_id", "missing required field", no_story),
        (
            file,
            "$.annotations[2]",
            "expected a list holding an annotation object, got string",
            "not a list",
        ),
        (file, "$.annotations[3]", "empty annotation list", []),
        (
            file,
            "$.annotations[4][0].worker_arranged_photo_order",
            "expected integer, got string '1'",
            bad_order,
        ),
        (file, "$.annotations[5][0].album_id", "must not be empty", empty_album),
        (file, "$.annotations[6][0]", "expected an annotation object, got integer", 7),
    ]


def test_malformed_record_raises_by_default(tmp_path: Path):
    good = writers.sis_annotation("s", "a", "p", 0, "ok .")
    path = _write_raw(tmp_path / "train.story-in-sequence.json", [[good], [dict(good, text=None)]])
    with pytest.raises(InputFormatError) as err:
        list(readers.read_sis(path))
    message = str(err.value)
    assert "train.story-in-sequence.json" in message
    assert "$.annotations[1][0].text" in message
    assert "expected string, got null None" in message


def test_read_sis_accepts_bare_annotation_objects(tmp_path: Path):
    # Not the official shape (the validator rejects it), but the reader can represent it.
    anns = [writers.sis_annotation("s", "a", f"p{i}", i, f"t{i}") for i in range(2)]
    path = _write_raw(tmp_path / "train.story-in-sequence.json", anns)
    assert [s.photo_ids for s in readers.read_sis(path)] == [("p0", "p1")]


def test_integral_float_order_is_an_integer(tmp_path: Path):
    anns = [
        dict(
            writers.sis_annotation("s", "a", f"p{i}", i, "t"), worker_arranged_photo_order=float(i)
        )
        for i in (1, 0)
    ]
    path = _write_raw(tmp_path / "train.story-in-sequence.json", [[a] for a in anns])
    assert [s.photo_ids for s in readers.read_sis(path)] == [("p0", "p1")]


def test_read_sis_reports_broken_json_with_position(tmp_path: Path, sis_file: Path):
    text = sis_file.read_text()
    broken = tmp_path / "train.story-in-sequence.json"
    broken.write_text(text[: len(text) - 40])
    with pytest.raises(InputFormatError) as err:
        list(readers.read_sis(broken))
    assert err.value.file == str(broken)
    assert err.value.path.startswith("$.annotations[14][0]")
    assert f"byte {len(text) - 40}" in err.value.reason and "truncated" in err.value.reason


def test_missing_annotations_array_is_an_error_not_an_empty_file(tmp_path: Path):
    path = tmp_path / "train.story-in-sequence.json"
    path.write_text('{"info": {}, "type": "x", "albums": [], "images": []}')
    with pytest.raises(InputFormatError, match=r"missing required top-level key 'annotations'"):
        list(readers.read_sis(path))
    path.write_text('{"annotations": []}')
    assert list(readers.read_sis(path)) == []


def test_iter_sis_annotations_yields_indices_and_raw_dicts(sis_file: Path):
    items = list(readers.iter_sis_annotations(sis_file))
    assert [i for i, _ in items] == list(range(15))
    assert all(set(a) >= {"story_id", "text", "storylet_id"} for _, a in items)


def test_read_dii_groups_by_album_with_every_description(tmp_path: Path, vist_files):
    anns = []
    for worker, prefix in (("w1", "first"), ("w2", "second")):
        for order, photo in enumerate(["d", "c", "b"]):
            anns.append(
                writers.dii_annotation("alb", photo, order, f"{prefix} {photo}", worker_id=worker)
            )
    anns.append(writers.dii_annotation("other", "z", 0, "zed"))
    # Shuffle deterministically: grouping must not depend on file order.
    anns = anns[3:] + anns[:3]
    path = vist_files.write_dii(tmp_path / "val.description-in-isolation.json", anns)

    sequences = list(readers.read_dii(path))

    assert sequences == [
        DiiSequence(
            sequence_id="alb",
            album_id="alb",
            split="val",
            photo_ids=("d", "c", "b"),
            descriptions=(
                ("second d", "first d"),
                ("second c", "first c"),
                ("second b", "first b"),
            ),
            source=str(path),
        ),
        DiiSequence("other", "other", "val", ("z",), (("zed",),), str(path)),
    ]


def test_read_dii_photo_seen_at_two_positions_takes_the_smaller(tmp_path: Path, vist_files):
    anns = [
        writers.dii_annotation("a", "x", 2, "x late"),
        writers.dii_annotation("a", "y", 1, "y"),
        writers.dii_annotation("a", "x", 0, "x early"),
    ]
    path = vist_files.write_dii(tmp_path / "train.description-in-isolation.json", anns)
    (seq,) = readers.read_dii(path)
    assert seq.photo_ids == ("x", "y")
    assert seq.descriptions == (("x late", "x early"), ("y",))


def test_read_dii_reports_malformed(tmp_path: Path):
    ann = writers.dii_annotation("a", "x", 0, "x")
    del ann["photo_order_in_story"]
    path = _write_raw(tmp_path / "train.description-in-isolation.json", [[ann]])
    with pytest.raises(InputFormatError, match=r"\$\.annotations\[0\]\[0\]\.photo_order_in_story"):
        list(readers.read_dii(path))


COCO_IMAGE = {
    "filepath": "val2014",
    "sentids": [770337, 771687],
    "filename": "COCO_val2014_000000391895.jpg",
    "imgid": 0,
    "split": "test",
    "sentences": [
        {
            "tokens": ["a", "man", "riding", "a", "bike"],
            "raw": "A man riding a bike.",
            "imgid": 0,
            "sentid": 770337,
        },
        {"tokens": ["a", "cyclist"], "raw": "A cyclist ", "imgid": 0, "sentid": 771687},
    ],
    "cocoid": 391895,
}
FLICKR_IMAGE = {
    "sentids": [0],
    "imgid": 0,
    "sentences": [{"tokens": ["a", "dog"], "raw": "A dog.", "imgid": 0, "sentid": 0}],
    "split": "restval",
    "filename": "1000268201_693b08cb0e.jpg",
}


def test_read_karpathy(tmp_path: Path):
    path = tmp_path / "dataset_coco.json"
    writers.write_karpathy_file(path, [COCO_IMAGE, FLICKR_IMAGE], dataset="coco")

    coco, flickr = readers.read_karpathy(path)

    assert coco == KarpathyImage(
        image_id="391895",
        filename="COCO_val2014_000000391895.jpg",
        filepath="val2014",
        split="test",
        sentences=("A man riding a bike.", "A cyclist "),
        tokens=(("a", "man", "riding", "a", "bike"), ("a", "cyclist")),
        source=str(path),
    )
    assert (flickr.image_id, flickr.filepath, flickr.split) == (
        "1000268201_693b08cb0e",
        "",
        "restval",
    )
    assert flickr.sentences == ("A dog.",)


def test_read_karpathy_reports_malformed_sentence(tmp_path: Path):
    bad = json.loads(json.dumps(FLICKR_IMAGE))
    bad["sentences"][0]["tokens"] = "a dog"
    path = tmp_path / "dataset_flickr8k.json"
    writers.write_karpathy_file(path, [COCO_IMAGE, bad])
    reports = []
    images = list(readers.read_karpathy(path, on_malformed=lambda *a: reports.append(a)))
    assert [i.image_id for i in images] == ["391895"]
    assert [(r[1], r[2]) for r in reports] == [
        ("$.images[1].sentences[0].tokens", "expected an array of strings")
    ]
