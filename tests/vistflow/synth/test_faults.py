"""faults.json matches what is on disk, entry by entry, and clean stories stay clean."""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image, UnidentifiedImageError

from vistflow.records import SPLITS
from vistflow.synth import FAULT_KINDS, generate

EXPECTED = {k.kind: (k.expected, k.reason) for k in FAULT_KINDS}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_f01")
    result = generate(root, stories=40, seed=7, fault_rate=0.1)
    faults = json.loads((root / "faults.json").read_text())
    sis = {s: json.loads((root / f"sis/{s}.story-in-sequence.json").read_text()) for s in SPLITS}
    return root, result, faults, sis


def _groups(sis: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for split in SPLITS:
        for (a,) in sis[split]["annotations"]:
            out[a["story_id"]].append(a)
    return out


def _files_of(root: Path, split: str, photo_id: str) -> list[Path]:
    return sorted((root / "images" / split).glob(f"{photo_id}.*"))


def test_every_kind_present_with_its_verdict(faulty):
    _, result, faults, _ = faulty
    assert [f["kind"] for f in faults] == [k.kind for k in FAULT_KINDS]  # 15 = max(round(4), 15)
    assert result.faults == len(faults)
    for f in faults:
        assert (f["expected"], f["reason"]) == EXPECTED[f["kind"]]
        assert f["split"] in SPLITS
        assert ("photo_id" in f) != ("story_id" in f)


def test_photo_faults_match_the_files(faulty):
    root, _, faults, sis = faulty
    uses = defaultdict(list)
    for split in SPLITS:
        for (a,) in sis[split]["annotations"]:
            if a["story_id"] not in uses[a["photo_flickr_id"]]:
                uses[a["photo_flickr_id"]].append(a["story_id"])
    for f in faults:
        if "photo_id" not in f:
            continue
        kind, pid = f["kind"], f["photo_id"]
        assert f["story_ids"] and f["story_ids"] == uses[pid], kind
        images = {i["id"]: i for i in sis[f["split"]]["images"]}
        assert images[pid]["album_id"] == f["album_id"]
        on_disk = _files_of(root, f["split"], pid)
        if kind == "missing_image":
            assert f["file"] is None and on_disk == []
            continue
        assert on_disk == [root / f["file"]], kind
        assert images[pid]["url_o"].endswith("." + f["file"].rsplit(".", 1)[1])
        data = (root / f["file"]).read_bytes()
        if kind == "zero_byte":
            assert data == b""
        elif kind == "not_an_image":
            assert data.startswith(b"<!DOCTYPE html>") and f["file"].endswith(".jpg")
            with pytest.raises(UnidentifiedImageError):
                Image.open(root / f["file"])
        elif kind == "truncated_jpeg":
            assert data[:2] == b"\xff\xd8" and not data.endswith(b"\xff\xd9")
            with Image.open(root / f["file"]) as im, pytest.raises(OSError, match="truncated"):
                im.load()
        elif kind == "huge_dimensions":
            assert len(data) < 20_000
            with pytest.raises(Image.DecompressionBombError):
                Image.open(root / f["file"])
        else:  # accepted after conversion: must decode
            expected_mode, expected_format, ext = {
                "png_as_jpg": ("RGB", "PNG", "jpg"),
                "grayscale": ("L", "JPEG", "jpg"),
                "cmyk": ("CMYK", "JPEG", "jpg"),
                "rgba": ("RGBA", "PNG", "png"),
                "palette": ("P", "PNG", "png"),
                "sixteen_bit": ("I;16", "PNG", "png"),
            }[kind]
            assert f["file"].endswith("." + ext)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with Image.open(root / f["file"]) as im:
                    im.load()
                    assert (im.mode, im.format) == (expected_mode, expected_format), kind
                    if kind == "rgba":
                        assert im.getchannel("A").getextrema() == (0, 255)
                    if kind == "sixteen_bit":
                        assert data[:8] == PNG_MAGIC and data[24] == 16  # IHDR bit depth
                    if kind == "png_as_jpg":
                        assert data[:8] == PNG_MAGIC


def test_story_faults_match_the_annotations(faulty):
    _, _, faults, sis = faulty
    groups = _groups(sis)
    for f in faults:
        if "story_id" not in f:
            continue
        rows = groups[f["story_id"]]
        assert f["file"] == f"sis/{f['split']}.story-in-sequence.json"
        assert all(r in [a[0] for a in sis[f["split"]]["annotations"]] for r in rows)
        if f["kind"] == "story_4_photos":
            assert len(rows) == 4 == f["photo_count"]
        elif f["kind"] == "story_6_photos":
            assert len(rows) == 6 == f["photo_count"]
            assert [r["worker_arranged_photo_order"] for r in rows] == [0, 1, 2, 3, 4, 5]
            assert len({r["photo_flickr_id"] for r in rows}) == 6
        elif f["kind"] == "empty_text":
            assert len(rows) == 5 and sum(r["text"] == "" for r in rows) == 1
        elif f["kind"] == "duplicate_story_id":
            assert len(rows) == 10
            first, second = rows[:5], rows[5:]  # the duplicate comes later in the file
            assert {r["album_id"] for r in first} == {f["original_album_id"]}
            assert {r["album_id"] for r in second} == {f["album_id"]}
            assert [r["worker_arranged_photo_order"] for r in second] == [0, 1, 2, 3, 4]
            assert len({r["storylet_id"] for r in rows}) == 10


def test_every_other_story_is_clean_and_the_counts_add_up(faulty):
    root, result, faults, sis = faulty
    groups = _groups(sis)
    rejected = {sid for f in faults if f["expected"] == "reject" for sid in f.get("story_ids", [])}
    rejected |= {
        f["story_id"] for f in faults if "story_id" in f and f["kind"] != "duplicate_story_id"
    }
    duplicates = sum(f["kind"] == "duplicate_story_id" for f in faults)
    # Input stories = accepted + rejected: 40 story groups, one hidden behind a reused id.
    assert len(groups) + duplicates == sum(result.stories.values()) == 40
    accepted = [sid for sid in groups if sid not in rejected]
    assert len(accepted) + len(rejected) + duplicates == 40
    split_of = {a["story_id"]: s for s in SPLITS for (a,) in sis[s]["annotations"]}
    assert {split_of[sid] for sid in accepted} == set(SPLITS)
    for sid in accepted:
        rows = groups[sid]
        assert [r["worker_arranged_photo_order"] for r in rows][:5] == [0, 1, 2, 3, 4]
        for r in rows[:5]:
            assert r["text"]
            (path,) = _files_of(root, split_of[sid], r["photo_flickr_id"])
            with Image.open(path) as im:
                im.load()


def test_heavy_fault_rate_keeps_every_split_usable(synth_faulty):
    root = Path(synth_faulty)
    faults = json.loads((root / "faults.json").read_text())
    assert {f["kind"] for f in faults} == set(EXPECTED)
    rejected = set()
    for f in faults:
        if f["expected"] == "reject":
            rejected |= set(f.get("story_ids", [])) | (
                {f["story_id"]} if "story_id" in f else set()
            )
    assert len(rejected) <= 20
    for split in SPLITS:
        doc = json.loads((root / f"sis/{split}.story-in-sequence.json").read_text())
        assert {a["story_id"] for (a,) in doc["annotations"]} - rejected, split


def test_fault_rate_beyond_the_kinds_cycles_again(tmp_path):
    generate(tmp_path, stories=60, seed=3, image_size=16, fault_rate=0.5)
    faults = json.loads((tmp_path / "faults.json").read_text())
    kinds = [f["kind"] for f in faults]
    assert kinds[:15] == [k.kind for k in FAULT_KINDS]
    assert 15 < len(kinds) <= 30 and len(
        {f.get("photo_id") for f in faults if "photo_id" in f}
    ) == sum("photo_id" in f for f in faults)
