"""Concept pretraining learns what the photos show, and the FeatureExtractor extracts with it."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from concept_data import write_examples

from components.concept_pretrainer.training import ConceptConfig, scores, train_concepts


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from components.concept_pretrainer.photos import split_patterns

    root = str(tmp_path_factory.mktemp("concepts"))
    examples = write_examples(root, stories={"train": 80, "val": 20})
    out = os.path.join(root, "model")
    config = ConceptConfig(epochs=12, min_count=3)
    result = train_concepts(split_patterns(examples), out, backbone="tiny", seed=1, config=config)
    return examples, out, result


def test_concept_stage_learns_far_above_the_frequency_baseline(trained):
    _, out, result = trained
    # colours, shapes and places: 8 concepts, each as frequent as its siblings
    assert set(result["vocabulary"]["words"]) == {
        "red",
        "blue",
        "yellow",
        "square",
        "ball",
        "stripe",
        "grass",
        "sky",
    }
    val, base = result["val"], result["frequency_baseline"]
    print(
        f"val F1 {val['f1']:.3f} (P {val['precision']:.3f} R {val['recall']:.3f}); "
        f"frequency baseline F1 {base['f1']:.3f}"
    )
    assert val["f1"] > base["f1"] + 0.3
    assert result["photos"] == {"train": 400, "val": 100}
    saved = json.load(open(os.path.join(out, "concepts.json")))
    assert saved["val"] == val


def test_scores_are_micro_precision_and_recall():
    y = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    p = np.array([[1, 1, 0], [0, 1, 0]], np.float32)
    s = scores(y, p)
    assert (s["precision"], s["recall"]) == (2 / 3, 2 / 3)


def test_saved_backbone_is_what_feature_extraction_loads(trained):
    from vistflow import backbones

    _, out, result = trained
    backbone_dir = os.path.join(out, "backbone")
    learned = backbones.build_backbone("tiny", weights=backbone_dir)
    random = backbones.build_backbone("tiny", weights="random", seed=1)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    assert not np.allclose(learned(x)["global"], random(x)["global"])  # it was trained
    meta = json.load(open(os.path.join(backbone_dir, "backbone.json")))
    assert meta["weights"]["weights"] == "concept-pretrained"
    assert meta["weights"]["base"]["weights"] == "random(seed=1)"
    assert meta["weights"]["val_f1"] == pytest.approx(result["val"]["f1"])


def test_missing_val_split_is_named(tmp_path):
    from components.concept_pretrainer.photos import split_patterns
    from vistflow.errors import VistflowError

    examples = write_examples(str(tmp_path), stories={"train": 2})
    with pytest.raises(VistflowError, match="'val' split"):
        train_concepts(split_patterns(examples), str(tmp_path / "m"), backbone="tiny")


def test_unknown_config_key_is_named():
    from vistflow.errors import VistflowError

    with pytest.raises(VistflowError, match="epoch"):
        ConceptConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize("start", ["random", "pretrained"])
def test_batch_norm_statistics_are_learned_from_random_and_kept_when_fine_tuning(
    start, tmp_path, monkeypatch
):
    """From random weights the CNN's batch-norm statistics are learned; from given weights
    (ImageNet, an earlier concept model) they are kept, as Keras's fine-tuning guide requires,
    while the weights still learn. The stage leaves no temp files behind."""
    import tempfile

    from components.concept_pretrainer.photos import split_patterns
    from vistflow import backbones

    examples = write_examples(str(tmp_path), stories={"train": 8, "val": 4})
    spec = backbones.get_spec("small")
    weights = "random"
    if start == "pretrained":
        weights = str(tmp_path / "given")
        given = backbones.build_backbone("small", weights="random", seed=5)
        backbones.save_backbone(given, spec, backbones.describe_weights("random", 5), weights)
    base = backbones.build_backbone("small", weights=weights, seed=1)
    out = str(tmp_path / "model")
    config = ConceptConfig(epochs=1, min_count=1)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    train_concepts(
        split_patterns(examples), out, backbone="small", weights=weights, seed=1, config=config
    )
    # TensorFlow's autograph keeps its generated sources there on purpose; nothing else may stay.
    left = [p.name for p in scratch.iterdir() if not p.name.startswith("__autograph_generated")]
    assert left == []
    learned = backbones.build_backbone("small", weights=os.path.join(out, "backbone"))
    for i in range(1, 6):
        before, after = base.get_layer(f"bn{i}"), learned.get_layer(f"bn{i}")
        kept = np.array_equal(before.moving_mean.numpy(), after.moving_mean.numpy())
        assert kept == (start == "pretrained"), f"bn{i}"
        conv = f"conv{i}"
        assert not np.allclose(base.get_layer(conv).kernel, learned.get_layer(conv).kernel), conv


def test_an_imagenet_file_keeps_mobilenet_v2s_batch_norm_statistics(tmp_path):
    """The real path of fine-tuning: a keras.applications MobileNetV2 file (written offline, its
    batch-norm statistics those of its own activations on photos, as in a trained file) as the
    start, 224-px photos. All 52 BN layers keep their moving statistics while every convolution,
    the first one too, learns."""
    import keras
    from keras_files import write_keras_file

    from components.concept_pretrainer.photos import split_patterns
    from vistflow import backbones

    examples = write_examples(str(tmp_path), stories={"train": 4, "val": 2})
    photos = sorted((tmp_path / "images").glob("*.png"))[:8]
    # The pixels the backbone sees: the project's one decoder, at MobileNetV2's 224 px.
    pixels = np.stack([backbones.decode_image(p.read_bytes(), 224).numpy() for p in photos])
    imagenet = str(tmp_path / backbones.KERAS_WEIGHT_FILES["mobilenet_v2"][1])
    calibrate = keras.applications.mobilenet_v2.preprocess_input(pixels)
    write_keras_file(imagenet, "mobilenet_v2", top=False, size=224, calibrate=calibrate)
    out = str(tmp_path / "model")
    config = ConceptConfig(epochs=1, min_count=1)
    train_concepts(
        split_patterns(examples), out, backbone="mobilenet_v2", weights=imagenet, config=config
    )
    base = backbones.build_backbone("mobilenet_v2", weights=imagenet)
    learned = backbones.build_backbone("mobilenet_v2", weights=os.path.join(out, "backbone"))
    norms = [x.name for x in base.layers if isinstance(x, keras.layers.BatchNormalization)]
    assert len(norms) == 52
    for name in norms:
        before, after = base.get_layer(name), learned.get_layer(name)
        assert np.array_equal(before.moving_mean.numpy(), after.moving_mean.numpy()), name
        assert np.array_equal(before.moving_variance.numpy(), after.moving_variance.numpy()), name
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
    convs = [x.name for x in base.layers if isinstance(x, kinds)]
    assert len(convs) == 52
    for name in convs:
        before, after = base.get_layer(name).kernel, learned.get_layer(name).kernel
        assert not np.allclose(before, after), name
