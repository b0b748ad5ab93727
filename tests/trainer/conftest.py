"""Session fixtures of the trainer tests (data helpers: trainer_testdata.py)."""

from __future__ import annotations

import pytest
from trainer_testdata import SAT_RUN, write_artifact


@pytest.fixture(scope="session")
def sis_artifact(tmp_path_factory):
    """12 train / 4 val SIS stories of 5 photos with features of the tiny backbone."""
    root = str(tmp_path_factory.mktemp("features_sis"))
    info = write_artifact(root, task="sis", stories={"train": 12, "val": 4}, seed=1)
    return root, info


@pytest.fixture(scope="session")
def dii_artifact(tmp_path_factory):
    """DII: 2 references per photo, image bytes kept (for joint fine-tuning)."""
    root = str(tmp_path_factory.mktemp("features_dii"))
    info = write_artifact(
        root,
        task="dii",
        stories={"train": 6, "val": 2},
        seed=2,
        refs_per_photo=2,
        with_image_bytes=True,
    )
    return root, info


def _tiny_hparams(**overrides):
    from trainer_testdata import TINY_HP

    from trainer.hparams import HParams

    return HParams.from_config({**TINY_HP, **overrides})


@pytest.fixture(scope="session")
def trained_sat(sis_artifact, tmp_path_factory):
    """show_attend_tell trained with train() on the SIS artifact: (TrainResult, results_csv)."""
    from trainer_testdata import split_pattern

    from trainer.train import train

    root, _ = sis_artifact
    out = str(tmp_path_factory.mktemp("run_sat"))
    results = str(tmp_path_factory.mktemp("results") / "results.csv")
    result = train(
        split_pattern(root, "train"),
        split_pattern(root, "val"),
        out,
        _tiny_hparams(**SAT_RUN),
        results_csv=results,
        run_name="sat-test",
    )
    return result, results


@pytest.fixture(scope="session")
def trained_gc(sis_artifact, tmp_path_factory):
    """global_context trained through the TFX entry point run_fn: (fn_args, results_csv)."""
    from types import SimpleNamespace

    from trainer_testdata import TINY_HP, split_pattern

    from trainer.run import run_fn

    root, _ = sis_artifact
    base = tmp_path_factory.mktemp("run_gc")
    results = str(base / "results.csv")
    # The attributes of tfx.components.FnArgs that run_fn reads (importing tfx costs ~30 s).
    fn_args = SimpleNamespace(
        train_files=[split_pattern(root, "train")],
        eval_files=[split_pattern(root, "val")],
        serving_model_dir=str(base / "Format-Serving"),
        model_run_dir=str(base / "model_run"),
        train_steps=6,
        eval_steps=1,
        base_model=None,
        custom_config={
            **TINY_HP,
            "model": "global_context",
            "epochs": 3,
            "results_csv": results,
            "decoding": {"method": "beam", "beam_size": 2, "max_length": 8},
        },
    )
    run_fn(fn_args)
    return fn_args, results
