from __future__ import annotations

from pathlib import Path

from vistflow.data import layout, writers


def test_validate_cli(run_cli, data_root: Path, vist_files):
    test_split = layout.sis_path(data_root, "test")
    vist_files.write_sis(test_split, vist_files.story_annotations("t", "a", ["t1"]))
    code, out, err = run_cli(["validate", str(data_root)])
    assert code == 0 and err == ""
    lines = out.splitlines()
    expected = [
        layout.sis_path(data_root, "train"),
        layout.sis_path(data_root, "val"),
        test_split,  # official split order, not alphabetical
        layout.dii_path(data_root, "train"),
    ]
    assert [line.split(": OK ")[0] for line in lines] == [str(p) for p in expected]

    bad = layout.sis_path(data_root, "train")
    bad.write_text(bad.read_text().replace('"story_id": "s2", ', "", 1))
    good = layout.sis_path(data_root, "val")
    code, out, err = run_cli(["validate", str(good), str(bad), str(good)])
    assert code == 2
    assert out.count(": OK sis") == 1  # stops at the first invalid file
    assert err.strip() == (
        f"vistflow validate: error: {bad}: $.annotations[5][0].story_id: missing required field"
    )


def test_validate_cli_kind_flag(run_cli, tmp_path: Path):
    path = tmp_path / "captions.json"
    writers.write_karpathy_file(path, [])
    code, _, err = run_cli(["validate", str(path)])
    assert code == 2 and "cannot tell the file kind" in err
    code, out, _ = run_cli(["validate", "--kind", "karpathy", str(path)])
    assert code == 0 and ": OK karpathy" in out
