"""The results CSV row of a training run, with the retraining window's columns."""

from __future__ import annotations

import json


def test_train_row_carries_spans_stories_and_warm_start(tmp_path):
    from trainer.hparams import HParams
    from trainer.results import COLUMNS, append_row, read_rows, train_row
    from trainer.train import TrainResult

    result = TrainResult(
        model="show_tell",
        out_dir=str(tmp_path / "run7"),
        export_dir=str(tmp_path / "run7" / "export"),
        epochs=2,
        steps=10,
        best_epoch=1,
        best_val_loss=2.5,
        stopped_early=False,
        resumed_from_epoch=0,
        wall_time_s=3.0,
        vocab_size=40,
        hparams=HParams(model="show_tell", task="sis"),
        history=[
            {"epoch": 0, "loss": 4.0, "val_token_nll": 3.0},
            {"epoch": 1, "loss": 3.0, "val_token_nll": 2.5, "val_token_accuracy": 0.25},
        ],
    )
    row = train_row(
        result,
        train_spans=json.dumps([1, 2, 3]),
        train_stories=36,
        warm_start_from="/models/2/Format-Serving",
    )
    path = str(tmp_path / "results.csv")
    append_row(path, row)
    (got,) = read_rows(path)
    assert list(got) == list(COLUMNS)
    assert got["run"] == "run7" and got["model"] == "show_tell" and got["best_epoch"] == "1"
    assert got["val_token_nll"] == "2.5" and got["val_token_accuracy"] == "0.25"
    assert got["train_loss"] == "3"
    assert json.loads(got["train_spans"]) == [1, 2, 3] and got["train_stories"] == "36"
    assert got["warm_start_from"] == "/models/2/Format-Serving"
