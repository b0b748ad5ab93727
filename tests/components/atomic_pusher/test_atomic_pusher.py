"""The atomic Pusher executor: stock Pusher semantics, versions visible only when complete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.atomic_pusher import executor as atomic
from components.atomic_pusher.component import create_pusher


def _save_model(model_uri: Path, bias: float) -> str:
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.bias = tf.Variable(bias)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x + self.bias}

    module = Tiny()
    tf.saved_model.save(
        module, str(model_uri / "Format-Serving"), signatures={"serving_default": module.serve}
    )
    return str(model_uri)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"one": _save_model(root / "one", 1.0), "two": _save_model(root / "two", 2.0)}


def _artifacts(model_uri: str, blessed: int | None, push_uri: Path):
    model = standard_artifacts.Model()
    model.uri = model_uri
    inputs = {"model": [model]}
    if blessed is not None:
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = str(push_uri.parent / "blessing")
        blessing.set_int_custom_property("blessed", blessed)
        inputs["model_blessing"] = [blessing]
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(push_uri)
    return inputs, {"pushed_model": [pushed]}, pushed


def _push(model_uri, serving_root: Path, tmp_path: Path, blessed=1, name="captioner", run="run"):
    inputs, outputs, pushed = _artifacts(model_uri, blessed, tmp_path / run / "pushed")
    destination = tfx.proto.PushDestination(
        filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(serving_root / name))
    )
    from tfx.utils import proto_utils

    props = {"push_destination": proto_utils.proto_to_json(destination)}
    atomic.Executor().Do(inputs, outputs, props)
    return pushed


def _serve(version_dir: Path, x: float) -> float:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir))
    return float(loaded.signatures["serving_default"](x=tf.constant([x]))["y"].numpy()[0])


def test_blessed_model_is_published_complete_and_atomically(models, tmp_path, monkeypatch):
    import serving.publish as publish_mod

    serving_root = tmp_path / "serving"
    final = serving_root / "captioner" / "1"
    copied = []
    real_copy = publish_mod._copy_and_fsync

    def watching_copy(src, dst):
        # While any file is being copied, the version directory must not be visible yet.
        assert not final.exists(), f"{final} visible before its copy finished"
        copied.append(os.path.relpath(dst))
        return real_copy(src, dst)

    monkeypatch.setattr(publish_mod, "_copy_and_fsync", watching_copy)
    pushed = _push(models["one"], serving_root, tmp_path)

    assert len(copied) >= 3  # saved_model.pb, variables data + index (+ fingerprint)
    assert sorted(os.listdir(serving_root / "captioner")) == ["1"]  # no staging dir left
    assert (final / "saved_model.pb").is_file() and (final / "variables").is_dir()
    assert _serve(final, 1.5) == pytest.approx(2.5)
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == str(final)
    assert pushed.get_string_custom_property("pushed_version") == "1"
    # Archived in the PushedModel artifact like the stock Pusher does.
    assert (Path(pushed.uri) / "saved_model.pb").is_file()
    provenance = json.loads((final / "assets.extra" / "vistflow_publish.json").read_text())
    assert provenance["source"] == str(Path(models["one"], "Format-Serving").resolve())


def test_next_model_gets_the_next_version_and_a_rerun_does_not_duplicate(models, tmp_path):
    serving_root = tmp_path / "serving"
    _push(models["one"], serving_root, tmp_path, run="a")
    second = _push(models["two"], serving_root, tmp_path, run="b")
    assert second.get_string_custom_property("pushed_version") == "2"
    # Re-executing the same push (e.g. after a crash before MLMD recorded it) reuses version 2.
    again = _push(models["two"], serving_root, tmp_path, run="c")
    assert again.get_string_custom_property("pushed_version") == "2"
    assert sorted(os.listdir(serving_root / "captioner")) == ["1", "2"]
    assert _serve(serving_root / "captioner" / "2", 0.0) == pytest.approx(2.0)


def test_not_blessed_model_writes_nothing(models, tmp_path):
    serving_root = tmp_path / "serving"
    pushed = _push(models["one"], serving_root, tmp_path, blessed=0)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not serving_root.exists()
    assert not Path(pushed.uri).exists()


def test_object_store_destination_keeps_its_scheme():
    # Published there with a commit marker (serving.publish._publish_into_store).
    assert atomic.split_base_directory("gs://bucket/models/captioner") == (
        "gs://bucket/models",
        "captioner",
    )
    with pytest.raises(ValueError, match="serving_root"):
        atomic.split_base_directory("gs://captioner")
    assert atomic.split_base_directory("/srv/models/captioner/") == ("/srv/models", "captioner")


def test_create_pusher_is_the_stock_pusher_with_the_atomic_executor(tmp_path):
    model = tfx.dsl.Channel(type=standard_artifacts.Model)
    blessing = tfx.dsl.Channel(type=standard_artifacts.ModelBlessing)
    pusher = create_pusher(model, blessing, str(tmp_path / "serving"), "captioner")
    assert isinstance(pusher, tfx.components.Pusher)
    assert pusher.executor_spec.executor_class is atomic.Executor
    destination = json.loads(pusher.exec_properties["push_destination"])
    assert destination["filesystem"]["base_directory"] == str(tmp_path / "serving" / "captioner")
    assert pusher.inputs["model_blessing"] is blessing
    with pytest.raises(ValueError, match="not a valid model name"):
        create_pusher(model, blessing, str(tmp_path), "a/b")
