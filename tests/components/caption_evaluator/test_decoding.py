"""Decoding: signature inspection, feature reshaping, de-duplication, sample choice."""

from __future__ import annotations

import pytest

from components.caption_evaluator import decoding
from components.caption_evaluator.blessing import decide, validate_config
from vistflow import example_files
from vistflow.errors import VistflowError


def _grid_model(path, local_shape, name="local_features"):
    """A model whose caption is the flat index of the channel-0 peak of its local grid."""
    import tensorflow as tf

    class GridCaptioner(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, *local_shape], tf.float32, name=name)])
        def from_features(self, grid):  # the signature's input name is the TensorSpec's
            n = tf.shape(grid)[0]
            flat = tf.reshape(grid, [n, -1, 3])[:, :, 0]
            peak = tf.argmax(flat, axis=-1)
            return {"captions": tf.strings.as_string(peak), "scores": tf.zeros([n])}

    module = GridCaptioner()
    tf.saved_model.save(module, str(path), signatures={"from_features": module.from_features})
    return str(path)


@pytest.fixture(scope="module")
def grid_examples(tmp_path_factory, fakes):
    root = tmp_path_factory.mktemp("grid")
    img = fakes.write_image(root / "x.png", (1, 2, 3))
    # Photo index i puts the channel-0 peak at flat cell i % 4 (see fakes.make_example).
    records = [
        fakes.make_example(
            example_id=f"e{i}", album_id="", task="caption", photos=[(f"p{i}", img, ("r",), i)]
        )
        for i in range(5)
    ]
    records.append(records[1])  # the same photo again: decoded once
    fakes.write_split(root / "ex", "val", records)
    return root


@pytest.mark.parametrize("local_shape", [(12,), (4, 3), (2, 2, 3)])
def test_local_features_are_reshaped_row_major_to_the_signature(
    grid_examples, tmp_path, local_shape
):
    path = _grid_model(tmp_path / "m", local_shape)
    model = decoding.FeatureModel(path)
    assert model.per_story is False and model.has_attention is False
    files = example_files.split_files(str(grid_examples / "ex"), "val")
    calls = []
    original = model._call

    def counting(batch):
        calls.append(len(next(iter(batch.values()))))
        return original(batch)

    model._call = counting
    metas, predictions = model.decode(decoding.iter_examples(files), batch_size=2)
    assert [m.example_id for m in metas] == ["e0", "e1", "e2", "e3", "e4", "e1"]
    assert {k: p.text for k, p in predictions.items()} == {
        "p0": "0",
        "p1": "1",
        "p2": "2",
        "p3": "3",
        "p4": "0",
    }
    assert calls == [2, 2, 1]  # 5 unique photos in batches of 2; the repeat is not re-decoded
    assert metas[0].local_shape == (2, 2, 3)


def test_input_names_are_read_from_the_signature_and_unknown_ones_refused(tmp_path):
    path = _grid_model(tmp_path / "m", (2, 2, 3), name="mystery")
    with pytest.raises(VistflowError, match="signature input 'mystery'"):
        decoding.FeatureModel(path)
    with pytest.raises(VistflowError, match="no 'serving_default' signature"):
        decoding.FeatureModel(_grid_model(tmp_path / "n", (12,)), "serving_default")


def test_choose_samples_takes_worst_and_best(fakes):
    from components.caption_evaluator.executor import choose_samples

    scores = {"a": 0.5, "b": 0.1, "c": 0.9, "d": 0.3, "e": 0.7}
    assert choose_samples(list(scores), scores, 3) == ["b", "d", "c"]
    assert choose_samples(["z", "y", "x"], {}, 2) == ["x", "y"]
    assert choose_samples(list(scores), scores, 0) == []


def test_blessing_rules():
    thresholds = validate_config({"Bleu_4": 0.05}, "CIDEr", 0.1)
    ok, checks = decide(
        {"Bleu_4": 0.06, "CIDEr": 0.75},
        {"CIDEr": 0.8},
        thresholds=thresholds,
        gate_metric="CIDEr",
        tolerance=0.1,
    )
    assert ok and [c.passed for c in checks] == [True, True]
    ok, checks = decide(
        {"Bleu_4": 0.06, "CIDEr": 0.65},
        {"CIDEr": 0.8},
        thresholds=thresholds,
        gate_metric="CIDEr",
        tolerance=0.1,
    )
    assert not ok and checks[1].threshold == pytest.approx(0.7)
    ok, _ = decide(
        {"Bleu_4": float("nan")}, None, thresholds=thresholds, gate_metric="CIDEr", tolerance=0
    )
    assert not ok  # NaN is "not computed"
    with pytest.raises(ValueError, match="gate_metric"):
        validate_config({}, "cider", 0)


def test_image_input_reads_the_photo_from_its_uri(grid_examples, tmp_path):
    import os

    import tensorflow as tf

    class ByteCounter(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def from_features(self, images):
            return {"captions": tf.strings.as_string(tf.strings.length(images))}

    module = ByteCounter()
    tf.saved_model.save(
        module, str(tmp_path / "b"), signatures={"from_features": module.from_features}
    )
    files = example_files.split_files(str(grid_examples / "ex"), "val")
    _, predictions = decoding.FeatureModel(str(tmp_path / "b")).decode(
        decoding.iter_examples(files, max_examples=1)
    )
    assert predictions["p0"].text == str(os.path.getsize(grid_examples / "x.png"))
