"""Each PTransform of the ingest job on small in-memory inputs (TestPipeline + assert_that)."""

from __future__ import annotations

import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from components.vist_example_gen import quality_transforms as QT
from components.vist_example_gen import reasons
from components.vist_example_gen import transforms as T
from components.vist_example_gen.image_check import ImageCheck, ImageLimits
from components.vist_example_gen.items import ImageRef, IngestItem
from components.vist_example_gen.tfrecord import parse_sequence_example, read_records

from .conftest import five, image_bytes, texts, write_vist_root


def item(story_id, *, photos=None, order=(0, 0), split="train", text=None, album="A") -> IngestItem:
    photos = photos or five(f"{story_id}p")
    return IngestItem(
        task="sis",
        id=story_id,
        album_id=album,
        split=split,
        photo_ids=tuple(photos),
        texts=tuple((t,) for t in (text or [f"{story_id} {p} ." for p in photos])),
        source=f"f.json: {story_id}@{order}",
        order=order,
        refs=tuple(ImageRef(split, p) for p in photos),
    )


def counter(result, name: str) -> int:
    found = result.metrics().query(MetricsFilter().with_name(name))["counters"]
    return sum(c.committed for c in found)


def test_read_vist_stories_tags_malformed_records(tmp_path):
    root = write_vist_root(
        tmp_path,
        {
            "train": [("s1", "A", five("a"), texts("s1"))],
            "val": [("s2", "B", five("b"), texts("s2"))],
        },
        {},
        raw_annotations={
            # Names its story: a fault of story s9 (one item), not a reject of its own.
            "train": [[{"story_id": "s9", "album_id": "A"}], [{"album_id": "A"}]],
        },
    )
    files = [
        T.InputFile(i, "sis", split, str(root / "sis" / f"{split}.story-in-sequence.json"))
        for i, split in enumerate(("train", "val", "test"))
    ]
    with BeamTestPipeline() as p:
        read = p | T.ReadVistStories(files)
        assert_that(
            read[T.ITEMS]
            | beam.Map(lambda it: (it.split, it.id, it.photo_ids, it.order[0], it.faults)),
            equal_to(
                [
                    ("train", "s1", tuple(five("a")), 0, ()),
                    (
                        "train",
                        "s9",
                        (),
                        0,
                        (
                            (
                                reasons.MALFORMED_RECORD,
                                "$.annotations[5][0].photo_flickr_id: missing required field",
                            ),
                        ),
                    ),
                    ("val", "s2", tuple(five("b")), 1, ()),
                ]
            ),
            label="items",
        )
        assert_that(
            read[T.MALFORMED] | beam.Map(lambda r: (r["id"], r["split"], r["reason"], r["source"])),
            equal_to(
                [
                    (
                        "$.annotations[6][0].story_id",
                        "train",
                        reasons.MALFORMED_RECORD,
                        f"{files[0].path}: $.annotations[6][0].story_id",
                    )
                ]
            ),
            label="malformed",
        )


def test_check_images_checks_each_unique_image_once_and_fans_out(tmp_path):
    images = {("train", p): image_bytes() for p in ["x", "y", "z", "w"]}
    images[("train", "bad")] = b""
    root = write_vist_root(tmp_path, {}, images)
    # Three stories share photos x, y and "bad"; "gone" has no file.
    stories = [
        item("s1", photos=["x", "y", "z", "bad", "w"]),
        item("s2", photos=["y", "x", "bad", "w", "gone"], order=(0, 1)),
        item("s3", photos=["x", "x", "y", "z", "w"], order=(0, 2)),
    ]
    p = BeamTestPipeline()
    checked = p | beam.Create(stories) | T.CheckImages(str(root), ImageLimits())
    assert_that(
        checked[T.CHECKS]
        | beam.MapTuple(lambda c, used_by: (c.photo_id, c.reason, tuple(used_by))),
        equal_to(
            [
                ("x", "", (("sis", "s1"), ("sis", "s2"), ("sis", "s3"))),
                ("y", "", (("sis", "s1"), ("sis", "s2"), ("sis", "s3"))),
                ("z", "", (("sis", "s1"), ("sis", "s3"))),
                ("w", "", (("sis", "s1"), ("sis", "s2"), ("sis", "s3"))),
                ("bad", reasons.EMPTY_FILE, (("sis", "s1"), ("sis", "s2"))),
                ("gone", reasons.MISSING_IMAGE, (("sis", "s2"),)),
            ]
        ),
        label="checks",
    )
    assert_that(
        checked[T.VERDICTS] | beam.MapTuple(lambda key, v: (key[1], v[0], v[1][0], v[1][2])),
        equal_to(
            [
                (
                    s.id,
                    pos,
                    photo,
                    {"bad": reasons.EMPTY_FILE, "gone": reasons.MISSING_IMAGE}.get(photo, ""),
                )
                for s in stories
                for pos, photo in enumerate(s.photo_ids)
            ]
        ),
        label="verdicts",
    )
    result = p.run()
    result.wait_until_finish()
    assert counter(result, "images_checked") == 6  # 15 references, 6 unique images
    assert counter(result, "images_empty_file") == 1


def verdicts(story: IngestItem, bad: dict[int, str] | None = None):
    bad = bad or {}
    return [
        (
            story.key,
            (pos, (p, "" if pos in bad else f"/img/{p}.jpg", bad.get(pos, ""), f"why {pos}")),
        )
        for pos, p in enumerate(story.photo_ids)
    ]


def test_filter_stories_decides_and_names_every_fault():
    clean = item("clean")
    first = item("dup", order=(0, 1), album="A")
    later = item(
        "dup", order=(1, 0), album="B"
    )  # a later file: rejected whatever the arrival order
    short = item("short", photos=["a", "b", "c", "d"])
    blank = item("blank", text=["one .", " ", "three .", "four .", "five ."])
    two_bad = item("twobad")
    both = item("both", text=["", "b .", "c .", "d .", "e ."])
    stories = [later, clean, short, blank, two_bad, both, first]
    image_verdicts = [
        v
        for s in stories
        for v in verdicts(
            s,
            {"twobad": {3: "undecodable", 1: "missing_image"}, "both": {4: "too_large"}}.get(s.id),
        )
    ]
    with BeamTestPipeline() as p:
        out = {
            T.ITEMS: p | "Items" >> beam.Create(stories),
            T.VERDICTS: p | "Verdicts" >> beam.Create(image_verdicts),
        } | T.FilterStories()
        assert_that(
            out[T.ACCEPTED] | beam.MapTuple(lambda it, uris: (it.id, it.album_id, uris)),
            equal_to(
                [
                    ("clean", "A", tuple(f"/img/{p}.jpg" for p in clean.photo_ids)),
                    ("dup", "A", tuple(f"/img/{p}.jpg" for p in first.photo_ids)),
                ]
            ),
            label="accepted",
        )
        assert_that(
            out[T.REJECTED]
            | beam.Map(
                lambda r: (r["id"], r["reason"], tuple(r["reasons"]), tuple(r["failing_photos"]))
            ),
            equal_to(
                [
                    ("dup", reasons.DUPLICATE_ID, (reasons.DUPLICATE_ID,), ()),
                    ("short", reasons.INCOMPLETE_STORY, (reasons.INCOMPLETE_STORY,), ()),
                    ("blank", reasons.EMPTY_TEXT, (reasons.EMPTY_TEXT,), ()),
                    # The first failing photo in story order names the reject.
                    (
                        "twobad",
                        "missing_image",
                        ("missing_image", "undecodable"),
                        ("twobadp1", "twobadp3"),
                    ),
                    ("both", reasons.EMPTY_TEXT, (reasons.EMPTY_TEXT, "too_large"), ("bothp4",)),
                ]
            ),
            label="rejected",
        )
        assert_that(
            out[T.REJECTED]
            | beam.Filter(lambda r: r["id"] in ("twobad", "dup"))
            | beam.Map(lambda r: r["detail"]),
            equal_to(
                [
                    "missing_image: photo twobadp1: why 1; undecodable: photo twobadp3: why 3",
                    "id dup already used by f.json: dup@(0, 1)",
                ]
            ),
            label="details",
        )


def test_write_examples_sorts_shards_and_writes_empty_ones(tmp_path):
    stories = [item(f"s{i:02d}", split="train" if i % 3 else "val") for i in range(12)]
    accepted = [(s, tuple(f"/img/{p}.jpg" for p in s.photo_ids)) for s in stories]
    with BeamTestPipeline() as p:
        shards = p | beam.Create(accepted) | T.WriteExamples(str(tmp_path), num_shards=3)
        assert_that(shards | beam.combiners.Count.Globally(), equal_to([9]), label="all shards")
    for split, expected in (("train", 8), ("val", 4), ("test", 0)):
        files = sorted((tmp_path / f"Split-{split}").iterdir())
        assert [f.name for f in files] == [f"data_tfrecord-{i:05d}-of-00003.gz" for i in range(3)]
        ids = []
        for f in files:
            raw = gzip.decompress(f.read_bytes())
            shard_ids = [
                parse_sequence_example(r).context.feature["id"].bytes_list.value[0].decode()
                for r in read_records(raw)
            ]
            assert shard_ids == sorted(shard_ids)
            assert all(T.shard_of(item(i), 3) == int(f.name[14:19]) for i in shard_ids)
            ids += shard_ids
        assert len(ids) == expected
        assert f.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0: reruns write identical bytes


def test_write_rejects_sorts_stories_then_images(tmp_path):
    bad = ImageCheck("val", "p9", "/img/p9.jpg", reason=reasons.UNDECODABLE, detail="truncated")
    ok = ImageCheck("train", "p1", "/img/p1.jpg")
    story_rejects = [
        {
            "id": "b",
            "split": "test",
            "task": "sis",
            "reason": "empty_text",
            "detail": "",
            "source": "s",
            "kind": "story",
        },
        {
            "id": "a",
            "split": "train",
            "task": "sis",
            "reason": "empty_text",
            "detail": "",
            "source": "s",
            "kind": "story",
        },
    ]
    path = tmp_path / "rejects.jsonl"
    with BeamTestPipeline() as p:
        written = {
            T.REJECTED: p | "Stories" >> beam.Create(story_rejects),
            T.CHECKS: p
            | "Checks"
            >> beam.Create([(bad, [("sis", "s1"), ("sis", "s2")]), (ok, [("sis", "s1")])]),
        } | T.WriteRejects(str(path))
        assert_that(written | beam.Map(len), equal_to([3]))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["kind"], r["split"], r["id"]) for r in lines] == [
        ("story", "train", "a"),
        ("story", "test", "b"),
        ("image", "val", "p9"),
    ]
    assert lines[2]["used_by"] == ["sis:s1", "sis:s2"] and lines[2]["source"] == "/img/p9.jpg"
    assert list(lines[2])[:5] == ["id", "split", "reason", "detail", "source"]


def test_quality_report_refuses_a_broken_invariant(tmp_path):
    # One input story that is neither accepted nor rejected: a silent drop must fail the run.
    with pytest.raises(Exception, match="invariant violated for train"):
        with BeamTestPipeline() as p:
            empty = p | "NoRecords" >> beam.Create([])
            {
                T.ITEMS: p | "Items" >> beam.Create([item("lost")]),
                T.MALFORMED: empty,
                T.ACCEPTED: p | "NoAccepted" >> beam.Create([]),
                T.REJECTED: p | "NoRejected" >> beam.Create([]),
                T.CHECKS: p | "NoChecks" >> beam.Create([]),
                "shards": p | "NoShards" >> beam.Create([]),
                "rejects": p | "NoRejects" >> beam.Create([[]]),
            } | QT.BuildQualityReport(str(tmp_path), {"format": "vist"})
    assert not (tmp_path / "report.json").exists()
