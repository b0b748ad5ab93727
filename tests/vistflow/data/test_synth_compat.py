"""Every file `vistflow.synth.generate` writes is valid and readable by the data layer."""

from __future__ import annotations

import json
from pathlib import Path

from vistflow.data import layout, readers
from vistflow.data.summarize import summarize
from vistflow.data.validate import validate_file
from vistflow.records import SPLITS


def _annotation_files(root: Path) -> list[Path]:
    files = [layout.sis_path(root, s) for s in SPLITS] + [layout.dii_path(root, s) for s in SPLITS]
    return [f for f in files if f.is_file()]


def test_clean_synth_files_validate_and_read(synth_clean: Path):
    files = _annotation_files(synth_clean)
    assert files, "synth wrote no annotation files"
    stories = 0
    for path in files:
        summary = validate_file(path)
        assert summary.counts["annotations"] > 0
        if summary.kind == "sis":
            read = list(readers.read_sis(path))
            assert all(len(s.photo_ids) == 5 and all(s.sentences) for s in read)
            assert sum(len(s.photo_ids) for s in read) == summary.counts["annotations"]
            stories += len(read)
        else:
            read = list(readers.read_dii(path))
            # As in the released files: 5 photos per sequence, 3 descriptions of each.
            assert read and all(
                len(s.photo_ids) == 5 and all(len(d) == 3 for d in s.descriptions) for s in read
            )
            assert (
                sum(len(d) for s in read for d in s.descriptions) == summary.counts["annotations"]
            )
    assert stories == 24  # conftest: generate(stories=24)
    assert all(s.missing_images == 0 for s in summarize(synth_clean))


def test_faulty_synth_files_are_schema_valid_and_faults_reach_the_reader(synth_faulty: Path):
    """Content faults (4/6 photos, empty text, duplicate ids) are for ingest, not the schema."""
    faults = json.loads((synth_faulty / "faults.json").read_text())
    stories: dict[str, list] = {}
    for path in _annotation_files(synth_faulty):
        validate_file(path)
        if path.name.endswith(".story-in-sequence.json"):
            split = readers.split_from_filename(path)
            stories[split] = list(readers.read_sis(path))
    for fault in faults:
        if fault["kind"] in ("story_4_photos", "story_6_photos"):
            (story,) = [s for s in stories[fault["split"]] if s.story_id == fault["story_id"]]
            assert len(story.photo_ids) == fault["photo_count"]
        elif fault["kind"] == "empty_text":
            (story,) = [s for s in stories[fault["split"]] if s.story_id == fault["story_id"]]
            assert "" in [t.strip() for t in story.sentences]
        elif fault["kind"] == "duplicate_story_id":
            same_id = [s for s in stories[fault["split"]] if s.story_id == fault["story_id"]]
            assert [s.album_id for s in same_id] == [fault["original_album_id"], fault["album_id"]]
            assert all(len(s.photo_ids) == 5 for s in same_id)
    missing = sum(1 for f in faults if f["kind"] == "missing_image")
    assert sum(s.missing_images for s in summarize(synth_faulty)) == missing
