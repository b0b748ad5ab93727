"""sis_occurrences: a reused story_id is a second story, not five more photos of the first."""

from __future__ import annotations

import json

from components.vist_example_gen.sis_occurrences import read_sis_occurrences
from vistflow.data import writers


def write(path, items) -> str:
    path.write_text(
        json.dumps({"info": {}, "type": "", "albums": [], "images": [], "annotations": items})
    )
    return str(path)


def story(story_id, album_id, photos, orders=None):
    orders = orders if orders is not None else range(len(photos))
    return [
        [writers.sis_annotation(story_id, album_id, p, o, f"{story_id} {p} .")]
        for p, o in zip(photos, orders, strict=True)
    ]


def read(path):
    malformed = []
    out = list(
        read_sis_occurrences(
            path, split="train", on_malformed=lambda *args: malformed.append(args[:3])
        )
    )
    return out, malformed


def test_reused_id_yields_two_occurrences_in_file_order(tmp_path):
    items = story("1", "A", ["a0", "a1", "a2", "a3", "a4"]) + story("2", "B", list("bcdef"))
    items += story("1", "C", ["c0", "c1", "c2", "c3", "c4"])
    (first, p1, _), (second, p2, _), (dup, p3, _) = read(write(tmp_path / "f.json", items))[0]
    assert (first.story_id, first.album_id, first.photo_ids) == (
        "1",
        "A",
        ("a0", "a1", "a2", "a3", "a4"),
    )
    assert second.story_id == "2"
    assert (dup.story_id, dup.album_id, dup.photo_ids[0]) == ("1", "C", "c0")
    assert (p1, p2, p3) == ("$.annotations[0:5]", "$.annotations[5:10]", "$.annotations[10:15]")


def test_non_contiguous_annotations_of_one_story_are_merged(tmp_path):
    # Positions 3-4 of story 1 arrive after story 2: same album, new positions -> same story.
    items = story("1", "A", ["a0", "a1", "a2"]) + story("2", "B", list("bcdef"))
    items += story("1", "A", ["a3", "a4"], orders=[3, 4])
    stories = read(write(tmp_path / "f.json", items))[0]
    assert [(s.story_id, len(s.photo_ids)) for s, _, _ in stories] == [("1", 5), ("2", 5)]
    assert stories[0][1] == "$.annotations[0,1,2,8,9]"


def test_photos_follow_worker_order_and_six_photo_stories_stay_whole(tmp_path):
    items = story("1", "A", ["p2", "p0", "p1", "p5", "p4", "p3"], orders=[2, 0, 1, 5, 4, 3])
    [(s, _, faults)] = read(write(tmp_path / "f.json", items))[0]
    assert faults == []
    assert s.photo_ids == ("p0", "p1", "p2", "p3", "p4", "p5")
    assert s.sentences[0] == "1 p0 ."


def test_unreadable_annotations_stay_with_their_story_or_go_to_on_malformed(tmp_path):
    """A bad annotation naming its story is a fault of that story (one reject, not two)."""
    items = story("1", "A", list("abcde"))
    bad = dict(items[2][0], worker_arranged_photo_order="3")
    items[2] = [bad]
    items.append([{"story_id": "9"}])  # a story of its own with nothing readable
    items.append([{"album_id": "A", "text": "no story id"}])
    items.append("not an annotation")
    stories, malformed = read(write(tmp_path / "f.json", items))
    assert [(s.story_id, len(s.photo_ids), path, faults) for s, path, faults in stories] == [
        (
            "1",
            4,
            "$.annotations[0:5]",
            [
                (
                    "$.annotations[2][0].worker_arranged_photo_order",
                    "expected integer, got string '3'",
                )
            ],
        ),
        (
            "9",
            0,
            "$.annotations[5:6]",
            [("$.annotations[5][0].album_id", "missing required field")],
        ),
    ]
    assert [(m[1], m[2].split(",")[0]) for m in malformed] == [
        ("$.annotations[6][0].story_id", "missing required field"),
        ("$.annotations[7]", "expected a list holding an annotation object"),
    ]
