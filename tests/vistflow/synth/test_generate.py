"""Layout, fields, determinism and splits of the generated dataset."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from vistflow.errors import VistflowError
from vistflow.records import SPLITS
from vistflow.synth import generate

SIS_FIELDS = [
    "original_text", "album_id", "photo_flickr_id", "setting", "worker_id", "story_id", "tier",
    "worker_arranged_photo_order", "text", "storylet_id",
]  # fmt: skip
# Real DII annotations have no `setting`, `story_id` or `storylet_id` (lichengunc/vist_api).
DII_FIELDS = [
    "original_text", "album_id", "photo_flickr_id", "worker_id", "photo_order_in_story", "tier",
    "text",
]  # fmt: skip
IMAGE_FIELDS = {
    "id", "album_id", "title", "text", "tags", "datetaken", "license", "media", "secret", "url_o",
    "latitude", "longitude",
}  # fmt: skip
ALBUM_FIELDS = {
    "id", "title", "description", "owner", "primary", "photos", "farm", "server", "secret",
    "date_create", "date_update", "vist_label",
}  # fmt: skip
PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP"}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _stories(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for item in doc["annotations"]:
        out[item[0]["story_id"]].append(item[0])
    return out


def test_layout_and_top_level(synth_clean):
    root = Path(synth_clean)
    for split in SPLITS:
        sis = _load(root / f"sis/{split}.story-in-sequence.json")
        dii = _load(root / f"dii/{split}.description-in-isolation.json")
        assert list(sis) == ["info", "type", "albums", "images", "annotations"]
        assert list(dii) == ["info", "type", "albums", "images", "annotations"]
        assert sis["type"] == "story_in_sequence" and dii["type"] == "description_in_isolation"
        assert set(sis["info"]) == {"version", "description", "date_created"}
        assert sis["info"]["date_created"] == "2016-04-01"  # fixed, not the clock
        assert (root / "images" / split).is_dir()
        assert all(
            isinstance(a, list) and len(a) == 1 for a in sis["annotations"] + dii["annotations"]
        )
    assert json.loads((root / "faults.json").read_text()) == []


def test_every_field_real_files_have(synth_clean):
    root = Path(synth_clean)
    for split in SPLITS:
        sis = _load(root / f"sis/{split}.story-in-sequence.json")
        dii = _load(root / f"dii/{split}.description-in-isolation.json")
        for (a,) in sis["annotations"]:
            assert list(a) == SIS_FIELDS
            assert isinstance(a["worker_arranged_photo_order"], int)
            assert a["tier"] == "story-in-sequence"
            assert a["setting"] in ("first-2-pick-and-tell", "last-3-pick-old-and-tell")
            assert a["storylet_id"] == str(
                5 * int(a["story_id"]) + a["worker_arranged_photo_order"]
            )
            assert a["text"] == a["text"].lower() and a["text"].endswith((" .", " !"))
            for key in ("album_id", "photo_flickr_id", "story_id", "storylet_id"):
                assert a[key].isdigit(), (key, a[key])
        for (a,) in dii["annotations"]:
            assert list(a) == DII_FIELDS
            assert isinstance(a["photo_order_in_story"], int)
            assert a["tier"] == "descriptions-in-isolation"
            assert a["text"] and a["original_text"][0].isupper()
        for doc in (sis, dii):
            assert all(
                set(img) == IMAGE_FIELDS and img["media"] == "photo" for img in doc["images"]
            )
            assert all(isinstance(v, str) for img in doc["images"] for v in img.values())
            assert all(set(al) == ALBUM_FIELDS for al in doc["albums"])
            assert all(isinstance(v, str) for al in doc["albums"] for v in al.values())


def test_clean_stories_have_five_ordered_photos_of_their_album(synth_clean):
    root = Path(synth_clean)
    total = 0
    for split in SPLITS:
        sis = _load(root / f"sis/{split}.story-in-sequence.json")
        album_photos = defaultdict(set)
        for img in sis["images"]:
            album_photos[img["album_id"]].add(img["id"])
        for sid, rows in _stories(sis).items():
            total += 1
            assert [r["worker_arranged_photo_order"] for r in rows] == [0, 1, 2, 3, 4], sid
            photos = [r["photo_flickr_id"] for r in rows]
            assert len(set(photos)) == 5
            assert set(photos) <= album_photos[rows[0]["album_id"]]
            assert (
                len({r["worker_id"] for r in rows}) == 1 and len({r["album_id"] for r in rows}) == 1
            )
            assert all(r["text"] for r in rows)
    assert total == 24


def test_images_exist_decode_and_match_their_extension(synth_clean):
    root = Path(synth_clean)
    exts = defaultdict(int)
    for split in SPLITS:
        sis = _load(root / f"sis/{split}.story-in-sequence.json")
        assert sis["images"] == _load(root / f"dii/{split}.description-in-isolation.json")["images"]
        for img in sis["images"]:
            ext = img["url_o"].rsplit(".", 1)[1]
            exts[ext] += 1
            path = root / "images" / split / f"{img['id']}.{ext}"
            with Image.open(path) as im:
                assert im.format == PIL_FORMATS[ext]
                assert max(im.size) == 64 and min(im.size) in (48, 64)
                im.load()
    assert exts["jpg"] > sum(exts.values()) * 0.6 and len(exts) >= 2, exts


def test_splits_are_by_album_and_never_empty(tmp_path):
    result = generate(tmp_path, stories=3, seed=11)
    assert result.albums == {"train": 1, "val": 1, "test": 1}
    assert result.stories == {"train": 1, "val": 1, "test": 1}
    seen: dict[str, str] = {}
    for split in SPLITS:
        for (a,) in _load(result.sis_files[split])["annotations"]:
            assert seen.setdefault(a["album_id"], split) == split


def test_split_proportions_and_counts(tmp_path):
    result = generate(tmp_path, stories=120, seed=5, image_size=16)
    assert sum(result.stories.values()) == 120
    assert result.albums["val"] == result.albums["test"] == round(0.1 * sum(result.albums.values()))
    assert result.image_files == sum(result.photos.values())
    # Several stories per album reuse photos, as in real VIST.
    sis = _load(result.sis_files["train"])
    by_album = defaultdict(list)
    for rows in _stories(sis).values():
        by_album[rows[0]["album_id"]].append({r["photo_flickr_id"] for r in rows})
    assert any(len(s) > 1 and set.intersection(*s) for s in by_album.values())
    assert all(len(s) <= 5 for s in by_album.values())


def test_byte_identical_for_same_arguments_and_different_for_another_seed(tmp_path):
    args = dict(stories=24, image_size=32, fault_rate=0.3)
    generate(tmp_path / "a", seed=4, **args)
    generate(tmp_path / "b", seed=4, **args)
    generate(tmp_path / "c", seed=5, **args)
    a, b, c = (_tree(tmp_path / x) for x in "abc")
    assert len(a) > 80
    assert a == b
    assert a.keys() != c.keys()
    assert a["sis/train.story-in-sequence.json"] != c["sis/train.story-in-sequence.json"]


def test_regenerating_replaces_an_earlier_output(tmp_path):
    generate(tmp_path, stories=6, seed=1, image_size=16)
    first = _tree(tmp_path)
    generate(tmp_path, stories=9, seed=2, image_size=16)
    generate(tmp_path, stories=6, seed=1, image_size=16)
    assert _tree(tmp_path) == first  # no stale files from the seed-2 run


def test_rejects_bad_arguments_and_foreign_directories(tmp_path):
    with pytest.raises(VistflowError, match="at least 3"):
        generate(tmp_path / "x", stories=2, seed=1)
    with pytest.raises(VistflowError, match="fault-rate"):
        generate(tmp_path / "x", stories=5, seed=1, fault_rate=1.5)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(VistflowError, match="not empty"):
        generate(tmp_path / "mine", stories=5, seed=1)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_output_validates_against_the_json_schemas(synth_clean, synth_faulty):
    from vistflow.data.validate import validate_file

    for root in (Path(synth_clean), Path(synth_faulty)):
        for split in SPLITS:
            validate_file(root / f"sis/{split}.story-in-sequence.json", "sis")
            validate_file(root / f"dii/{split}.description-in-isolation.json", "dii")
