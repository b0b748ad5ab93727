from __future__ import annotations

import json
from pathlib import Path

import pytest

from vistflow.data import layout, writers
from vistflow.data.summarize import summarize
from vistflow.errors import VistflowError


def test_summarize_counts(data_root: Path):
    train, val = summarize(data_root)

    assert (train.split, train.has_sis, train.has_dii) == ("train", True, True)
    assert (train.stories, train.photos, train.unique_photos, train.albums) == (2, 10, 9, 2)
    assert (train.dii_sequences, train.dii_descriptions) == (2, 7)
    # Tokens: 3+2+0+3+1 + 2+1+1+1+1 = 15 over 10 sentences; vocabulary: the cat . a dog x y z w
    # b c d e f ("The" is lower-cased).
    assert train.sentence_length_mean == 1.5
    assert train.vocabulary_size == 14
    assert train.missing_images == 3
    assert train.malformed_records == 0
    assert (val.split, val.stories, val.has_dii, val.missing_images) == ("val", 1, False, 1)


def test_malformed_records_are_counted_not_fatal(tmp_path: Path):
    path = layout.sis_path(tmp_path, "test")
    path.parent.mkdir(parents=True)
    good = writers.sis_annotation("s", "a", "p", 0, "hello .")
    path.write_text(json.dumps({"annotations": [[good], [{"text": "no ids"}]]}))
    (summary,) = summarize(tmp_path)
    assert (summary.stories, summary.malformed_records) == (1, 1)


def test_no_annotation_files_is_an_error(tmp_path: Path):
    with pytest.raises(VistflowError, match="no VIST annotation files"):
        summarize(tmp_path)


def test_summarize_cli(run_cli, data_root: Path):
    code, out, _ = run_cli(["summarize", "--data-root", str(data_root), "--json"])
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"train", "val"}
    assert result["train"]["missing_images"] == 3 and result["val"]["stories"] == 1

    code, out, _ = run_cli(["summarize", "--data-root", str(data_root)])
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["train", "val"]
    assert lines[1].split() == ["stories", "2", "1"]
    assert "missing images" in out
