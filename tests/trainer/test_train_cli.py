"""`vistflow train` and `vistflow export-model` as a user runs them, on the tiny SIS artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from trainer_testdata import TINY_HP, split_pattern

from commands.main import main as cli_main


@pytest.fixture(scope="module")
def cli_run(sis_artifact, tmp_path_factory):
    """One `vistflow train` subprocess: --config JSON plus --set overrides, a results CSV."""
    root, _ = sis_artifact
    base = tmp_path_factory.mktemp("train_cli")
    config = base / "hparams.json"
    config.write_text(json.dumps({**TINY_HP, "model": "show_tell", "epochs": 5}))
    out, results = base / "run", base / "results.csv"
    cmd = [str(os.path.join(os.path.dirname(sys.executable), "vistflow")), "train"]
    cmd += ["--train", split_pattern(root, "train"), "--eval", split_pattern(root, "val")]
    cmd += ["--out", str(out), "--config", str(config), "--results-csv", str(results)]
    cmd += ["--set", "epochs=2", "--set", "decoding.beam_size=2"]  # override the file
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, results, json.loads(proc.stdout)


def test_train_cli_prints_the_summary_and_exports(cli_run, sis_artifact):
    import tensorflow as tf

    from trainer.export import load_captioner, read_metadata

    out, _, summary = cli_run
    export = str(out / "export")
    assert summary["model"] == "show_tell" and summary["export_dir"] == export
    # 12 stories x 5 photos = 60 rows, batch 16 -> 4 steps per epoch; --set beat the file's 5.
    assert (summary["epochs"], summary["steps"]) == (2, 8)
    assert "history" not in summary and "hparams" not in summary
    for name in ("loss.png", "history.csv", "vocab.json", "train_result.json"):
        assert (out / name).is_file(), name
    meta = read_metadata(export)
    assert meta["decoding"]["beam_size"] == 2 and meta["decoding"]["method"] == "beam"
    loaded = tf.saved_model.load(export)
    # The backbone/ next to the splits was found: image signatures are in the export.
    assert {"serving_default", "story", "from_features"} <= set(loaded.signatures)
    val = sis_artifact[1]["examples"]["val"]
    glob = np.stack([e[1] for e in val]).reshape(len(val) * 5, -1)
    captions = loaded.signatures["from_features"](global_features=tf.constant(glob))["captions"]
    words = set(load_captioner(export).words)
    assert captions.shape == (20,)
    # Two epochs: beam search may still prefer ending at once (an empty caption), but every word
    # it does emit is from the training vocabulary, and the model says something.
    texts = [c.decode() for c in captions.numpy()]
    assert all(set(t.split()) <= words for t in texts), texts
    assert any(t for t in texts), texts


def test_train_cli_appends_the_results_row(cli_run):
    from trainer.results import COLUMNS, read_rows

    out, results, summary = cli_run
    rows = read_rows(str(results))
    assert len(rows) == 1 and tuple(rows[0]) == COLUMNS
    row = rows[0]
    assert (row["run"], row["model"], row["task"], row["epochs"], row["steps"]) == (
        "run",
        "show_tell",
        "sis",
        "2",
        "8",
    )
    assert row["export_dir"] == str(out / "export")
    assert float(row["val_token_nll"]) == pytest.approx(summary["best_val_loss"], rel=1e-4)
    config = json.loads(row["config"])
    assert config["epochs"] == 2 and config["hidden_dim"] == TINY_HP["hidden_dim"]


def test_export_model_cli_changes_the_decoding(cli_run, sis_artifact, tmp_path, capsys):
    import tensorflow as tf

    from trainer.export import read_metadata

    out, _, _ = cli_run
    new = str(tmp_path / "greedy")
    args = ["export-model", "--from", str(out / "export"), "--out", new]
    assert cli_main([*args, "--method", "greedy", "--max-length", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["export_dir"] == new and printed["decoding"]["method"] == "greedy"
    meta = read_metadata(new)
    assert (meta["decoding"]["method"], meta["decoding"]["max_length"]) == ("greedy", 3)
    assert meta["decoding"]["beam_size"] == 2  # unspecified settings keep their exported value
    val = sis_artifact[1]["examples"]["val"]
    glob = np.stack([e[1] for e in val]).reshape(len(val) * 5, -1)
    loaded = tf.saved_model.load(new)
    captions = loaded.signatures["from_features"](global_features=tf.constant(glob))["captions"]
    assert all(1 <= len(c.decode().split()) <= 3 for c in captions.numpy())
    # The output directory must not exist: a second export to it is refused, naming it.
    assert cli_main([*args, "--method", "greedy"]) == 2
    assert new in capsys.readouterr().err


def test_train_cli_rejects_bad_hyperparameters(sis_artifact, tmp_path, capsys):
    root, _ = sis_artifact
    base = ["train", "--train", split_pattern(root, "train"), "--eval", split_pattern(root, "val")]
    base += ["--out", str(tmp_path / "run")]
    assert cli_main([*base, "--set", "epochs"]) == 2
    assert "--set epochs: expected KEY=VALUE" in capsys.readouterr().err
    assert cli_main([*base, "--set", "hiden_dim=8"]) == 2
    assert "unknown hyperparameter(s) hiden_dim" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
