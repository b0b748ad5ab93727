"""The server's version scan on an object store (`ram://`, tf.io.gfile's in-memory file system,
stands in for a bucket): only committed versions count, and new ones are picked up by polling
without a restart. The real S3 API is exercised in tests/vistflow/test_object_store.py.
"""

from __future__ import annotations

import os
import uuid

import pytest

from serving.layout import list_versions, resolve_saved_model
from serving.manager import ModelManager
from vistflow import outputs


def _copy_tree(src: str, dst: str) -> None:
    import tensorflow as tf

    for root, _dirs, files in tf.io.gfile.walk(src):
        rel = os.path.relpath(root, src)
        target = dst if rel == "." else f"{dst}/{rel}"
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(root, name), f"{target}/{name}", overwrite=True)


def _publish(model: str, version: int, src) -> None:
    with outputs.committed_output(f"{model}/{version}") as staging:
        _copy_tree(str(src), staging)


@pytest.fixture
def base() -> str:
    return f"ram://models-{uuid.uuid4().hex[:8]}"


def test_only_committed_versions_are_listed(base: str, toy_models):
    model = f"{base}/captioner"
    assert list_versions(model) == []
    _copy_tree(str(toy_models["v1"]), f"{model}/1")  # copied without a commit: not a version
    _copy_tree(str(toy_models["v1"]), f"{model}/.2.staging-x")
    assert list_versions(model) == []
    _publish(model, 3, toy_models["v1"])
    assert list_versions(model) == [3]
    assert resolve_saved_model(model) == f"{model}/3"


def test_server_polls_new_versions_from_a_bucket(base: str, toy_models):
    model = f"{base}/captioner"
    _publish(model, 1, toy_models["v1"])
    manager = ModelManager(base, "captioner", poll_seconds=3600)
    manager.poll_once()
    try:
        assert manager.loaded_versions() == [1]
        _copy_tree(str(toy_models["v2"]), f"{model}/2")  # uncommitted: ignored
        manager.poll_once()
        assert manager.loaded_versions() == [1]
        outputs.discard(f"{model}/2")
        _publish(model, 2, toy_models["v2"])
        manager.poll_once()
        assert manager.loaded_versions() == [2]
        with manager.acquire() as loaded:
            assert loaded.path == f"{model}/2"
    finally:
        manager.stop()
