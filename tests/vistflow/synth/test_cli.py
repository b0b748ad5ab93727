"""The `vistflow synth` subcommand."""

from __future__ import annotations

import json

from commands.main import main


def test_synth_cli_writes_the_dataset_and_prints_counts(tmp_path, capsys):
    out = tmp_path / "data"
    rc = main(["synth", "--out", str(out), "--stories", "24", "--seed", "2", "--image-size", "24", "--fault-rate", "0.2"])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "train:" in printed and "faults: 15" in printed
    assert len(json.loads((out / "faults.json").read_text())) == 15
    assert (out / "sis" / "test.story-in-sequence.json").is_file()


def test_synth_cli_with_few_stories_injects_what_fits(tmp_path, capsys, caplog):
    rc = main(
        ["synth", "--out", str(tmp_path), "--stories", "6", "--seed", "2", "--fault-rate", "0.2"]
    )
    assert rc == 0
    faults = json.loads((tmp_path / "faults.json").read_text())
    assert 0 < len(faults) < 15
    assert "skipped" in caplog.text


def test_synth_cli_reports_user_errors_without_a_traceback(tmp_path, capsys):
    rc = main(["synth", "--out", str(tmp_path / "d"), "--stories", "2", "--seed", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "at least 3" in err and "Traceback" not in err
