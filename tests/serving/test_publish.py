"""Atomic publish and rollback: history on fake SavedModel directories (no TensorFlow), the
rollback target's verification on real (toy) SavedModels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from commands.main import main as cli_main
from serving import publish as publish_module
from serving.layout import list_versions, resolve_saved_model
from serving.publish import publish, read_provenance, rollback
from vistflow.errors import VistflowError


def _fake_saved_model(path: Path, tag: str) -> Path:
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(f"graph-{tag}".encode())
    (path / "variables" / "variables.index").write_bytes(f"index-{tag}".encode())
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(b"x" * 1000)
    return path


def _has_pb(path: Path) -> None:
    # The history tests use fake models; check_servable on real ones is tested below.
    assert (path / "saved_model.pb").is_file()


def _content(version_path: Path) -> str:
    return (version_path / "saved_model.pb").read_text()


def test_publish_numbers_versions_and_copies_everything(tmp_path):
    a = _fake_saved_model(tmp_path / "a", "a")
    b = _fake_saved_model(tmp_path / "b", "b")
    base = tmp_path / "serving"
    first = publish(a, base, "captioner")
    second = publish(b, base, "captioner")
    assert first == base / "captioner" / "1" and second == base / "captioner" / "2"
    assert list_versions(base / "captioner") == [1, 2]
    assert _content(second) == "graph-b"
    assert (second / "variables" / "variables.data-00000-of-00001").stat().st_size == 1000
    assert read_provenance(second)["origin_version"] == 2
    assert read_provenance(second)["source"] == str(b.resolve())
    # Nothing but version directories is left behind.
    assert sorted(p.name for p in (base / "captioner").iterdir()) == ["1", "2"]
    assert resolve_saved_model(base / "captioner") == second


def test_publish_explicit_version_is_immutable(tmp_path):
    a = _fake_saved_model(tmp_path / "a", "a")
    publish(a, tmp_path / "base", "m", version=1700000000)
    with pytest.raises(VistflowError, match="already exists"):
        publish(a, tmp_path / "base", "m", version=1700000000)
    # An automatic number goes above a timestamp-style version (as TFX's Pusher writes).
    assert publish(a, tmp_path / "base", "m").name == "1700000001"


def test_publish_rejects_a_directory_without_saved_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VistflowError, match="no saved_model.pb"):
        publish(tmp_path / "empty", tmp_path / "base", "m")


def test_interrupted_publish_leaves_no_version_and_no_staging(tmp_path, monkeypatch):
    a = _fake_saved_model(tmp_path / "a", "a")
    copied = []
    real_copy = publish_module._copy_and_fsync

    def failing_copy(src, dst):
        if copied:
            raise OSError(28, "No space left on device")
        copied.append(dst)
        return real_copy(src, dst)

    monkeypatch.setattr(publish_module, "_copy_and_fsync", failing_copy)
    with pytest.raises(OSError, match="No space left"):
        publish(a, tmp_path / "base", "m")
    assert copied, "the copy must have started before failing"
    assert list((tmp_path / "base" / "m").iterdir()) == []


def test_rollback_walks_back_through_history(tmp_path):
    base = tmp_path / "base"
    for tag in ("one", "two", "three"):
        publish(_fake_saved_model(tmp_path / tag, tag), base, "m")
    assert rollback(base, "m", verify=_has_pb) == 4
    assert _content(base / "m" / "4") == "graph-two"
    assert read_provenance(base / "m" / "4")["rollback_of"] == 3
    # Rolling back again goes before version 2 (whose content 4 carries), not back to 3.
    assert rollback(base, "m", verify=_has_pb) == 5
    assert _content(base / "m" / "5") == "graph-one"
    assert read_provenance(base / "m" / "5")["origin_version"] == 1
    with pytest.raises(VistflowError, match="no earlier version"):
        rollback(base, "m", verify=_has_pb)
    # History is kept: nothing was deleted.
    assert list_versions(base / "m") == [1, 2, 3, 4, 5]


def test_rollback_after_a_new_push_returns_to_the_rolled_back_content(tmp_path):
    base = tmp_path / "base"
    publish(_fake_saved_model(tmp_path / "one", "one"), base, "m")
    publish(_fake_saved_model(tmp_path / "two", "two"), base, "m")
    rollback(base, "m", verify=_has_pb)  # 3 = one
    publish(_fake_saved_model(tmp_path / "four", "four"), base, "m")  # 4
    assert rollback(base, "m", verify=_has_pb) == 5
    assert _content(base / "m" / "5") == "graph-one"


def test_rollback_without_versions_is_a_clear_error(tmp_path):
    with pytest.raises(VistflowError, match="no published versions"):
        rollback(tmp_path, "missing")


def _published_toy_versions(tmp_path, toy_models) -> Path:
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "m")
    publish(toy_models["v2"], base, "m")
    return base


def test_rollback_cli(tmp_path, capsys, toy_models):
    base = _published_toy_versions(tmp_path, toy_models)
    assert cli_main(["rollback", "--model-base-path", str(base), "--model-name", "m"]) == 0
    assert capsys.readouterr().out.split("\t")[0] == "3"
    assert (
        json.loads((base / "m" / "3" / "assets.extra" / "vistflow_publish.json").read_text())[
            "origin_version"
        ]
        == 1
    )
    assert cli_main(["rollback", "--model-base-path", str(base), "--model-name", "nope"]) == 2
    assert "no published versions" in capsys.readouterr().err


def _corrupt_pb(version: Path) -> None:
    (version / "saved_model.pb").write_bytes(b"\x00junk, not a SavedModel proto\xff" * 10)


def _drop_variables(version: Path) -> None:
    shutil.rmtree(version / "variables")


def _dangling_link(version: Path) -> None:
    (version / "assets.extra" / "notes.txt").symlink_to(version / "does-not-exist")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_corrupt_pb, "does not load"),
        (_drop_variables, "no variables/variables.index"),
        (_dangling_link, "dangling symbolic link"),
    ],
)
def test_rollback_to_a_broken_version_publishes_nothing_and_exits_nonzero(
    tmp_path, capsys, toy_models, damage, reason
):
    base = _published_toy_versions(tmp_path, toy_models)
    damage(base / "m" / "1")
    code = cli_main(["rollback", "--model-base-path", str(base), "--model-name", "m"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert reason in err and str(base / "m" / "1") in err
    assert "\n" not in err and "Traceback" not in err
    # Nothing published, nothing half-written: version 2 is still the one served.
    assert sorted(p.name for p in (base / "m").iterdir()) == ["1", "2"]


def test_rollback_target_without_serving_signature_is_refused(tmp_path, toy_models):
    import tensorflow as tf

    base = _published_toy_versions(tmp_path, toy_models)
    # A real, loadable SavedModel, but with no serving_default signature.
    module = tf.Module()
    module.v = tf.Variable(1.0)
    module.f = tf.function(lambda x: x * module.v, input_signature=[tf.TensorSpec([], tf.float32)])
    target = base / "m" / "1"
    shutil.rmtree(target)
    tf.saved_model.save(module, str(target), signatures={"other": module.f})
    with pytest.raises(VistflowError, match="no 'serving_default' signature"):
        rollback(base, "m")
    assert list_versions(base / "m") == [1, 2]
