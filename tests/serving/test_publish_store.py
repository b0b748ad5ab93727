"""Publishing and rollback onto an object store (`ram://` stands in for a bucket): a version
appears only with its commit marker; a killed publish leaves nothing a server would load."""

from __future__ import annotations

import shutil
import uuid

import pytest
import tensorflow as tf

from serving import publish as pub
from serving.layout import list_versions
from vistflow import outputs


@pytest.fixture
def base() -> str:
    return f"ram://serving-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def toy_models(toy_models, tmp_path):
    # ram:// lists `assets.extra/x` under `assets/` too (no "/" boundary in its prefix match), so
    # the toy models' empty `assets/` would list a phantom file there: copies without it.
    models = {}
    for name, path in toy_models.items():
        models[name] = shutil.copytree(path, tmp_path / name)
        shutil.rmtree(models[name] / "assets", ignore_errors=True)
    return models


def test_publish_and_rollback_on_a_store(base: str, toy_models):
    v1 = pub.publish(toy_models["v1"], base, "captioner")
    v2 = pub.publish(toy_models["v2"], base, "captioner")
    assert (v1, v2) == (f"{base}/captioner/1", f"{base}/captioner/2")
    assert outputs.is_committed(v2)
    assert tf.io.gfile.exists(f"{v2}/variables/variables.index")
    assert pub.read_provenance(v2)["version"] == 2
    assert pub.rollback(base, "captioner") == 3
    assert pub.read_provenance(f"{base}/captioner/3")["origin_version"] == 1
    assert list_versions(f"{base}/captioner") == [1, 2, 3]


def test_killed_publish_is_never_listed_and_the_next_takes_a_higher_number(
    base: str, toy_models, monkeypatch
):
    def dies(*args, **kwargs):
        raise KeyboardInterrupt  # a kill while the files are moved under the final name

    monkeypatch.setattr(outputs, "_move", dies)
    with pytest.raises(KeyboardInterrupt):
        pub.publish(toy_models["v1"], base, "captioner")
    monkeypatch.undo()
    assert list_versions(f"{base}/captioner") == []
    final = pub.publish(toy_models["v2"], base, "captioner")
    assert list_versions(f"{base}/captioner") == [int(final.rsplit("/", 1)[1])]
