"""The training loop: outputs of a run, early stopping, resume after a kill, run_fn, warm start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from trainer_testdata import TINY_HP, split_pattern


def test_train_writes_every_output(trained_sat):
    from trainer.results import COLUMNS, read_rows

    result, results_csv = trained_sat
    out = result.out_dir
    # 12 stories x 5 photos = 60 rows, batch 16 -> 4 steps per epoch, 4 epochs.
    assert (result.epochs, result.steps) == (4, 16)
    assert len(result.history) == 4
    assert result.history[-1]["token_nll"] < result.history[0]["token_nll"]
    assert result.best_val_loss == min(h["val_token_nll"] for h in result.history)
    with open(os.path.join(out, "loss.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "history.csv")) as f:
        assert len(f.read().strip().splitlines()) == 1 + 4
    events = [n for _, _, files in os.walk(os.path.join(out, "logs")) for n in files]
    assert any(n.startswith("events.out.tfevents") for n in events)
    assert not os.path.exists(os.path.join(out, "checkpoints"))  # removed after success
    with open(os.path.join(out, "vocab.json")) as f:
        words = json.load(f)["words"]
    # Train-split words with min count 1: every concept and object, nothing else.
    assert set(words[4:]) == {
        "a", "in", "the", "picture", "is", "red", "green", "blue", "yellow",
        "apple", "tree", "sea", "sun",
    }  # fmt: skip
    rows = read_rows(results_csv)
    assert len(rows) == 1 and tuple(rows[0]) == COLUMNS
    row = rows[0]
    assert (row["run"], row["model"], row["task"], row["epochs"], row["steps"]) == (
        "sat-test",
        "show_attend_tell",
        "sis",
        "4",
        "16",
    )
    assert float(row["val_token_nll"]) == pytest.approx(result.best_val_loss, rel=1e-4)
    assert float(row["val_perplexity"]) == pytest.approx(np.exp(result.best_val_loss), rel=1e-4)
    assert json.loads(row["config"])["hidden_dim"] == 32
    assert float(row["wall_time_s"]) > 0


def test_run_fn_follows_the_tfx_contract(trained_gc):
    from trainer.results import read_rows

    fn_args, results_csv = trained_gc
    assert os.path.exists(os.path.join(fn_args.serving_model_dir, "saved_model.pb"))
    run_dir = fn_args.model_run_dir
    events = [n for _, _, files in os.walk(run_dir) for n in files]
    assert any(n.startswith("events.out.tfevents") for n in events)  # TensorBoard in run dir
    assert os.path.exists(os.path.join(run_dir, "loss.png"))
    with open(os.path.join(run_dir, "train_result.json")) as f:
        summary = json.load(f)
    # train_steps=6 over 3 epochs -> 2 steps per epoch; eval_steps honoured.
    assert (summary["epochs"], summary["steps"]) == (3, 6)
    assert summary["hparams"]["model"] == "global_context"
    assert read_rows(results_csv)[0]["model"] == "global_context"


def test_warm_start_restores_the_base_model(trained_sat, sis_artifact, tmp_path):
    """001's pretrain -> fine-tune: start from a previous export (TFX base_model)."""
    import tensorflow as tf

    from trainer.export import read_metadata
    from trainer.hparams import HParams
    from trainer.train import train

    base, _ = trained_sat
    root, _ = sis_artifact
    # A learning rate of ~0 keeps the weights where the warm start put them.
    hp = HParams.from_config(
        {**TINY_HP, "model": "show_attend_tell", "epochs": 1, "learning_rate": 1e-12}
    )
    result = train(
        split_pattern(root, "train"),
        split_pattern(root, "val"),
        str(tmp_path),
        hp,
        warm_start=base.export_dir,
    )
    assert (
        read_metadata(result.export_dir)["vocabulary"]
        == read_metadata(base.export_dir)["vocabulary"]
    )
    old = tf.train.load_checkpoint(os.path.join(base.export_dir, "variables", "variables"))
    new = tf.train.load_checkpoint(os.path.join(result.export_dir, "variables", "variables"))
    key = "model_variables/{}/.ATTRIBUTES/VARIABLE_VALUE"
    n = len(read_metadata(base.export_dir)["model_variables"])
    for i in range(n):
        # Adam moves each weight by ~lr (1e-12) per step: restored means equal to ~1e-9.
        np.testing.assert_allclose(
            old.get_tensor(key.format(i)), new.get_tensor(key.format(i)), rtol=0, atol=1e-9
        )
    # Starting from the trained model, validation loss starts where the base run ended.
    assert result.history[0]["val_token_nll"] == pytest.approx(base.best_val_loss, rel=0.02)


def test_training_state_early_stops_and_resumes(tmp_path):
    """Patience counts non-improving epochs; a new run resumes best value, counter and epoch."""
    import keras

    from trainer.callbacks import TrainingState

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    state = TrainingState(str(tmp_path), monitor="val_token_nll", patience=2)
    state.set_model(model)
    state.set_params({"epochs": 10})
    state.on_train_begin()
    for epoch, value in enumerate([3.0, 2.0, 2.5]):
        model.stop_training = False
        state.on_epoch_end(epoch, {"loss": value, "val_token_nll": value})
        assert not model.stop_training
    with open(tmp_path / "state.json") as f:
        saved = json.load(f)
    assert (saved["epochs_done"], saved["best_epoch"], saved["wait"]) == (3, 1, 1)
    assert os.path.exists(tmp_path / "best.weights.h5")
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("epoch-")) == [
        "epoch-3.weights.h5"
    ]

    resumed = TrainingState(str(tmp_path), monitor="val_token_nll", patience=2)
    resumed.set_model(model)
    resumed.set_params({"epochs": 10})
    resumed.on_train_begin()
    assert model._initial_epoch == 3
    assert (resumed.best, resumed.best_epoch, resumed.wait) == (2.0, 1, 1)
    resumed.on_epoch_end(3, {"loss": 2.2, "val_token_nll": 2.2})
    assert model.stop_training  # 2 epochs without beating 2.0
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]


_KILLABLE = r"""
import logging, sys, time
import keras
sys.path.insert(0, sys.argv[4])
from trainer_testdata import SAT_RUN, TINY_HP
from trainer.hparams import HParams
from trainer.train import train

class Slow(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.3)  # leave the parent time to kill us mid-run

logging.basicConfig(level=logging.INFO)
hp = HParams.from_config({**TINY_HP, **SAT_RUN})
train(sys.argv[1], sys.argv[2], sys.argv[3], hp, callbacks=[Slow()])
"""


def test_killed_training_resumes_from_its_last_checkpoint(trained_sat, sis_artifact, tmp_path):
    """Kill a run after 2 of 4 epochs, rerun it: it ends like the uninterrupted `trained_sat`."""
    from trainer_testdata import SAT_RUN

    from trainer.hparams import HParams
    from trainer.train import train

    reference, _ = trained_sat
    root, _ = sis_artifact
    args = (split_pattern(root, "train"), split_pattern(root, "val"))
    killed = str(tmp_path / "killed")
    state_file = os.path.join(killed, "checkpoints", "state.json")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, *args, killed, os.path.dirname(__file__)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    try:
        deadline = time.time() + 240
        epochs_done = 0
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(state_file):
                with open(state_file) as f:
                    epochs_done = json.load(f)["epochs_done"]
                if epochs_done >= 2:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the training finished before it could be killed"
        assert epochs_done >= 2, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not os.path.exists(os.path.join(killed, "export"))

    resumed = train(*args, killed, HParams.from_config({**TINY_HP, **SAT_RUN}))
    assert resumed.resumed_from_epoch >= 2
    # 60 rows / batch 16 = 4 steps per epoch: the same total whether or not it was killed.
    assert resumed.steps == reference.steps == 4 * 4
    assert resumed.epochs == reference.epochs == 4
    assert [h["epoch"] for h in resumed.history] == list(range(4))
    # Same data, same schedule: the final losses agree within noise (the data order after the
    # restart differs from the uninterrupted run's).
    assert resumed.history[-1]["val_token_nll"] == pytest.approx(
        reference.history[-1]["val_token_nll"], rel=0.1
    )
    assert resumed.history[-1]["val_token_nll"] < resumed.history[0]["val_token_nll"]


def test_joint_fine_tuning_exports_image_signatures_only(dii_artifact, tmp_path):
    import tensorflow as tf

    from trainer.export import read_metadata
    from trainer.hparams import HParams
    from trainer.train import train

    root, info = dii_artifact
    hp = HParams.from_config(
        {**TINY_HP, "model": "show_tell", "fine_tune_cnn": True, "epochs": 2, "patience": 2}
    )
    result = train(split_pattern(root, "train"), split_pattern(root, "val"), str(tmp_path), hp)
    meta = read_metadata(result.export_dir)
    assert meta["joint_cnn"] and meta["backbone"]["fine_tuned"]
    assert sorted(meta["signatures"]) == ["serving_default", "story"]
    assert meta["backbone_variables"] == []  # the backbone is part of the model's variables
    # 001's joint learning: gradients reach every layer of the CNN, which now differs from the
    # extractor's.
    reader = tf.train.load_checkpoint(os.path.join(result.export_dir, "variables", "variables"))
    for layer in ("conv1", "conv2", "conv3", "fc"):
        index = meta["model_variables"].index(f"{layer}/kernel")
        tuned = reader.get_tensor(f"model_variables/{index}/.ATTRIBUTES/VARIABLE_VALUE")
        original = info["backbone"].get_layer(layer).kernel.numpy()
        assert tuned.shape == original.shape and not np.allclose(tuned, original), layer
    assert result.history[-1]["token_nll"] < result.history[0]["token_nll"]
    loaded = tf.saved_model.load(result.export_dir)
    images = info["examples"]["val"][0][0]
    story = loaded.signatures["story"](images=tf.constant([images]))
    assert story["sentences"].shape == (1, 5)
    # The pipeline's evaluator scores it from the photos (DII: serving_default).
    from components.caption_evaluator import decoding

    files = tf.io.gfile.glob(split_pattern(root, "val"))
    model = decoding.FeatureModel(result.export_dir, "serving_default")
    metas, predictions = model.decode(decoding.iter_examples(files), batch_size=4)
    keys = [decoding.photo_key(m, i, per_story=False) for m in metas for i in range(len(m.photos))]
    assert len(keys) == 10 and all(np.isfinite(predictions[k].score) for k in keys)


def test_joint_fine_tuning_keeps_the_cnns_batch_norm_statistics(tmp_path):
    """001 on a CNN with batch norm (the demo's `small`, every ImageNet backbone): the CNN's
    weights learn, but its batch-norm statistics stay the extractor's. Keras's fine-tuning rule
    (BN in inference mode): caption batches of a few photos must not overwrite the statistics
    pretraining learned, and the features the model trains on are the ones it serves."""
    import tensorflow as tf
    from trainer_testdata import write_artifact

    from trainer.export import read_metadata
    from trainer.hparams import HParams
    from trainer.train import train

    root = str(tmp_path / "features")
    info = write_artifact(
        root, task="dii", stories={"train": 4, "val": 2}, seed=3, with_image_bytes=True,
        backbone="small",
    )  # fmt: skip
    hp = HParams.from_config(
        {**TINY_HP, "model": "show_tell", "fine_tune_cnn": True, "epochs": 1, "patience": 1}
    )  # one epoch: without the rule every statistic drifted in it
    result = train(split_pattern(root, "train"), split_pattern(root, "val"), str(tmp_path), hp)
    meta = read_metadata(result.export_dir)
    reader = tf.train.load_checkpoint(os.path.join(result.export_dir, "variables", "variables"))

    def tuned(name: str) -> np.ndarray:
        index = meta["model_variables"].index(name)
        return reader.get_tensor(f"model_variables/{index}/.ATTRIBUTES/VARIABLE_VALUE")

    original = info["backbone"]
    for i in range(1, 6):
        bn = original.get_layer(f"bn{i}")
        np.testing.assert_array_equal(tuned(f"bn{i}/moving_mean"), bn.moving_mean.numpy())
        np.testing.assert_array_equal(tuned(f"bn{i}/moving_variance"), bn.moving_variance.numpy())
        kernel = original.get_layer(f"conv{i}").kernel.numpy()
        assert not np.allclose(tuned(f"conv{i}/kernel"), kernel), f"conv{i} did not learn"
