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
