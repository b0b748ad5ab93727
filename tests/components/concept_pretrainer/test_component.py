"""ConceptPretrainer's executor writes a Model the FeatureExtractor extracts with."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from concept_data import write_examples


@pytest.fixture(scope="module")
def examples_artifact(tmp_path_factory):
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts

    root = str(tmp_path_factory.mktemp("cp"))
    examples = standard_artifacts.Examples()
    examples.uri = write_examples(root, stories={"train": 12, "val": 4})
    examples.split_names = artifact_utils.encode_split_names(["train", "val"])
    examples.span = 20261116
    examples_utils.set_payload_format(
        examples, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
    )
    return examples


def test_executor_writes_backbone_report_and_searchable_scores(examples_artifact, tmp_path):
    from tfx.types import standard_artifacts

    from components.concept_pretrainer import executor
    from components.feature_extractor import executor as fx_executor
    from vistflow import example_format as ef

    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "ConceptPretrainer" / "model" / "3")
    executor.Executor().Do(
        {executor.EXAMPLES_KEY: [examples_artifact]},
        {executor.MODEL_KEY: [model]},
        {
            executor.BACKBONE_KEY: "tiny",
            executor.SEED_KEY: 2,
            executor.CONFIG_KEY: json.dumps({"epochs": 2, "min_count": 2}),
        },
    )
    for name in (
        "backbone/backbone.json",
        "backbone/backbone.weights.h5",
        "concepts.json",
        "concept_head.npz",
        "report.html",
    ):
        assert os.path.isfile(os.path.join(model.uri, name)), name
    assert model.get_int_custom_property("num_concepts") == 8
    assert model.get_int_custom_property("span") == 20261116
    assert 0 <= model.get_float_custom_property("val_f1") <= 1
    page = open(os.path.join(model.uri, "report.html")).read()
    assert "frequency baseline" in page and "<svg" in page and "data:image/jpeg;base64" in page

    # The FeatureExtractor with the Model as `backbone_model` extracts with those weights.
    out = standard_artifacts.Examples()
    out.uri = str(tmp_path / "FeatureExtractor" / "examples" / "4")
    os.makedirs(out.uri)
    context = fx_executor.Executor.Context(
        beam_pipeline_args=["--runner=DirectRunner"], tmp_dir=str(tmp_path / "tmp")
    )
    fx_executor.Executor(context).Do(
        {
            fx_executor.INPUT_EXAMPLES_KEY: [examples_artifact],
            fx_executor.BACKBONE_MODEL_KEY: [model],
        },
        {fx_executor.EXAMPLES_KEY: [out]},
        {fx_executor.BACKBONE_KEY: "tiny", fx_executor.NUM_SHARDS_KEY: 1},
    )
    assert out.get_int_custom_property("backbone_pretrained") == 1
    assert out.get_string_custom_property("weights").startswith(os.path.join(model.uri, "backbone"))
    assert out.get_int_custom_property("weights_random") == 0
    saved = json.load(open(os.path.join(out.uri, "backbone", "backbone.json")))
    assert saved["weights"]["origin"]["weights"] == "concept-pretrained"

    # Same features as the pretrained network computes on the same photo.
    import tensorflow as tf

    from vistflow import backbones

    net = backbones.build_backbone("tiny", weights=os.path.join(model.uri, "backbone"))
    record = next(
        iter(
            tf.data.TFRecordDataset(
                tf.io.gfile.glob(os.path.join(out.uri, "Split-val", "*")), compression_type="GZIP"
            )
        )
    )
    ex = tf.train.SequenceExample.FromString(record.numpy())
    lists = ex.feature_lists.feature_list
    uri = lists[ef.IMAGE_URI].feature[0].bytes_list.value[0].decode()
    stored = np.array(lists[ef.GLOBAL_FEATURES].feature[0].float_list.value)
    pixels = backbones.decode_image(tf.io.read_file(uri), 64)[None]
    np.testing.assert_allclose(stored, net(pixels)["global"][0].numpy(), rtol=1e-4, atol=1e-4)


def test_an_earlier_spans_concept_model_is_reused_unchanged(examples_artifact, tmp_path):
    from tfx.types import standard_artifacts

    from components.concept_pretrainer import executor

    def run(uri, base=None, config=None):
        model = standard_artifacts.Model()
        model.uri = str(tmp_path / uri)
        inputs = {executor.EXAMPLES_KEY: [examples_artifact]}
        if base is not None:
            inputs[executor.BASE_MODEL_KEY] = [base]
        executor.Executor().Do(
            inputs,
            {executor.MODEL_KEY: [model]},
            {
                executor.BACKBONE_KEY: "tiny",
                executor.CONFIG_KEY: json.dumps({"epochs": 1, "min_count": 2, **(config or {})}),
            },
        )
        return model

    def weights(model):
        return open(os.path.join(model.uri, "backbone", "backbone.weights.h5"), "rb").read()

    first = run("m1")
    reused = run("m2", base=first)
    assert weights(reused) == weights(first)
    assert reused.get_string_custom_property("reused_from") == first.uri
    assert reused.get_float_custom_property("val_f1") == first.get_float_custom_property("val_f1")
    tuned = run("m3", base=first, config={"reuse": False})
    assert weights(tuned) != weights(first)
    meta = json.load(open(os.path.join(tuned.uri, "backbone", "backbone.json")))
    assert meta["weights"]["base"]["origin"]["weights"] == "concept-pretrained"
