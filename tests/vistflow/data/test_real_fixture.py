"""The real-format fixtures (tests/fixtures/README.md) validate and read like the released files."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest
from real_format import KARPATHY_REAL, SPLITS, VIST_REAL

from commands import main as cli
from vistflow.data.readers import read_dii, read_karpathy, read_sis
from vistflow.data.validate import validate_file


def _annotations(kind: str, split: str) -> list[dict]:
    name = "story-in-sequence" if kind == "sis" else "description-in-isolation"
    doc = json.loads((VIST_REAL / kind / f"{split}.{name}.json").read_text())
    assert all(isinstance(a, list) and len(a) == 1 for a in doc["annotations"])
    return [a for [a] in doc["annotations"]]


def test_the_fixture_has_the_real_quirks():
    """Guards the fixture itself: if someone 'cleans it up', these quirks must stay."""
    sis = [a for s in SPLITS for a in _annotations("sis", s)]
    dii = [a for s in SPLITS for a in _annotations("dii", s)]
    assert {a["tier"] for a in sis} == {"story-in-sequence"}
    assert {a["tier"] for a in dii} == {"descriptions-in-isolation"}
    assert all(isinstance(a["worker_arranged_photo_order"], int) for a in sis)
    assert all(isinstance(a[k], str) for a in sis for k in ("story_id", "storylet_id", "album_id"))
    for a in dii:
        assert not {"setting", "story_id", "storylet_id"} & set(a)
    texts = " ".join(a["text"] for a in sis)
    for quirk in ("[female]", "[male]", " location ", " organization ", "& # 13 ;", "n't", "``"):
        assert quirk in texts, quirk
    assert all(a["text"] == a["text"].lower() for a in sis)
    # Five stories per album; test stories share one photo sequence; DII: 3 passes over 5 photos.
    for split in SPLITS:
        per_album = Counter(a["album_id"] for a in sis if a in _annotations("sis", split))
        assert set(per_album.values()) == {25}
        sequences = defaultdict(list)
        for a in _annotations("sis", split):
            sequences[a["story_id"]].append(a["photo_flickr_id"])
        assert len(sequences) == 5 and all(len(p) == 5 for p in sequences.values())
        if split == "test":
            assert len({tuple(p) for p in sequences.values()}) == 1
        orders = [a["photo_order_in_story"] for a in _annotations("dii", split)]
        assert orders == [0, 1, 2, 3, 4] * 3
    images = json.loads((VIST_REAL / "sis" / "val.story-in-sequence.json").read_text())["images"]
    assert any("url_o" not in i for i in images)
    test_images = json.loads((VIST_REAL / "sis" / "test.story-in-sequence.json").read_text())
    assert any(i.get("url_o", "").endswith(".png") for i in test_images["images"])


@pytest.mark.parametrize("path", sorted(VIST_REAL.glob("*/*.json")), ids=lambda p: p.name)
def test_real_vist_files_validate(path):
    summary = validate_file(path)
    assert summary.counts["annotations"] == (25 if summary.kind == "sis" else 15)


def test_validate_cli_accepts_the_real_roots(capsys):
    assert cli.main(["validate", str(VIST_REAL), str(KARPATHY_REAL)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and all(": OK " in line for line in lines)


def test_readers_read_the_real_vist_files():
    for split in SPLITS:
        stories = list(read_sis(VIST_REAL / "sis" / f"{split}.story-in-sequence.json"))
        assert len(stories) == 5 and all(len(s.photo_ids) == 5 for s in stories)
        [seq] = list(read_dii(VIST_REAL / "dii" / f"{split}.description-in-isolation.json"))
        assert len(seq.photo_ids) == 5 and all(len(d) == 3 for d in seq.descriptions)
    [first, *_] = read_sis(VIST_REAL / "sis" / "test.story-in-sequence.json")
    assert first.story_id == "45530" and first.sentences[0] == (
        "the local parish holds a craft show each year ."
    )
    assert first.original_sentences[0] == "The local parish holds a craft show each year."


def test_readers_read_the_real_karpathy_files():
    coco = list(read_karpathy(KARPATHY_REAL / "dataset_coco.json"))
    assert [(i.image_id, i.filepath, i.split) for i in coco][:2] == [
        ("391895", "val2014", "test"),
        ("522418", "val2014", "restval"),
    ]
    assert coco[0].sentences[0].endswith("dirt road. ")  # raw keeps its trailing space
    flickr = list(read_karpathy(KARPATHY_REAL / "dataset_flickr8k.json"))
    assert [(i.image_id, i.filepath) for i in flickr][0] == ("2513260012_03d33305cf", "")
