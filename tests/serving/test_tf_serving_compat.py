"""What `tensorflow_model_server` needs from an export (it cannot be installed here)."""

from __future__ import annotations

import shutil

import pytest

from serving.compat import read_meta_graph, tf_serving_problems
from serving.publish import publish


def test_published_toy_model_meets_tf_serving_requirements(toy_models, tmp_path):
    from tensorflow.core.framework import types_pb2

    version = publish(toy_models["v1"], tmp_path / "models", "captioner")
    assert version.name.isdigit()
    assert (version / "saved_model.pb").is_file()
    assert (version / "variables" / "variables.index").is_file()
    meta_graph = read_meta_graph(version)
    assert "serve" in meta_graph.meta_info_def.tags
    signatures = {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}
    assert set(signatures) == {"serving_default", "story", "from_features"}
    dtypes = {
        types_pb2.DataType.Name(info.dtype)
        for sig in signatures.values()
        for info in [*sig.inputs.values(), *sig.outputs.values()]
    }
    assert dtypes == {"DT_STRING", "DT_FLOAT"}
    for sig in signatures.values():
        assert sig.method_name == "tensorflow/serving/predict"
    assert tf_serving_problems(version) == []


@pytest.fixture(scope="module")
def py_function_model(tmp_path_factory):
    import tensorflow as tf

    class Bad(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            y = tf.py_function(lambda v: v * 2, [x], tf.float32)  # Python: not in C++ TF Serving
            return {"y": tf.reshape(y, [-1]), "n": tf.size(x, out_type=tf.int32) + 0}

    path = tmp_path_factory.mktemp("bad") / "1"
    module = Bad()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def test_python_only_ops_are_flagged(py_function_model):
    problems = tf_serving_problems(py_function_model)
    assert any("EagerPyFunc" in p and "Python-only" in p for p in problems), problems


def test_layout_problems_are_flagged(toy_models, tmp_path):
    not_a_version = tmp_path / "latest"
    shutil.copytree(toy_models["v1"], not_a_version)
    assert any("must be an integer" in p for p in tf_serving_problems(not_a_version))
    empty = tmp_path / "3"
    empty.mkdir()
    assert tf_serving_problems(empty) == [f"{empty}: no saved_model.pb"]
