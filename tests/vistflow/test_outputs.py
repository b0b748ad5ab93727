"""vistflow.outputs: outputs are complete or absent, on local disk and on an object store.

`ram://` (tf.io.gfile's in-memory file system) stands in for a bucket: any non-local scheme takes
the object-store path (staging prefix, files moved, `_COMMITTED` marker last).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import tensorflow as tf

from vistflow import outputs
from vistflow.errors import VistflowError


class Killed(BaseException):
    """Stands in for a kill: not an Exception, so nothing on the way may swallow it."""


def _write(path: str, text: str) -> None:
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def _read(path: str) -> str:
    with tf.io.gfile.GFile(path) as f:
        return f.read()


def _tree(root: str) -> dict[str, str]:
    return {
        f"{d}/{name}"[len(root) + 1 :]: _read(f"{d}/{name}")
        for d, _, files in tf.io.gfile.walk(root)
        for name in files
    }


@pytest.fixture
def bucket() -> str:
    return f"ram://bucket-{uuid.uuid4().hex[:8]}"


# --- local -----------------------------------------------------------------------------------


def test_local_dir_appears_whole_and_staging_is_gone(tmp_path: Path):
    final = tmp_path / "sub" / "out"
    with outputs.committed_output(final, make_dir=True) as staging:
        assert isinstance(staging, Path) and staging.parent == final.parent
        assert staging.name.startswith(".") and not final.exists()
        (staging / "a.txt").write_text("a")
    assert (final / "a.txt").read_text() == "a"
    assert sorted(p.name for p in final.parent.iterdir()) == ["out"]
    assert outputs.is_committed(final)


def test_local_replace_swaps_the_whole_dir_and_refuses_without_replace(tmp_path: Path):
    final = str(tmp_path / "out")
    for name in ("old.txt", "new.txt"):
        with outputs.committed_output(final, replace=True, make_dir=True) as staging:
            Path(staging, name).write_text(name)
    assert sorted(p.name for p in Path(final).iterdir()) == ["new.txt"]
    with pytest.raises(outputs.OutputExistsError, match=final) as e:
        with outputs.committed_output(final, make_dir=True):
            pass
    assert isinstance(e.value, VistflowError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_local_kill_mid_write_keeps_the_old_output_and_no_staging(tmp_path: Path):
    final = tmp_path / "out"
    with outputs.committed_output(final, make_dir=True) as staging:
        (staging / "v1").write_text("1")
    with pytest.raises(Killed):
        with outputs.committed_output(final, replace=True, make_dir=True) as staging:
            (staging / "v2").write_text("half")
            raise Killed
    assert sorted(p.name for p in final.iterdir()) == ["v1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_explicit_staging_left_by_a_killed_run_is_removed_first(tmp_path: Path):
    staging = tmp_path / "out.incomplete"
    (staging / "stale").mkdir(parents=True)
    with outputs.committed_output(tmp_path / "out", staging=staging, make_dir=True) as s:
        assert s == staging and list(s.iterdir()) == []
        (s / "fresh").write_text("x")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["fresh"]
    assert not staging.exists()


def test_local_files_are_replaced_atomically(tmp_path: Path):
    path = tmp_path / "d" / "report.json"
    outputs.write_file_atomic(path, "{}")
    outputs.write_file_atomic(str(path), b'{"a": 1}')
    assert path.read_text() == '{"a": 1}'
    with pytest.raises(Killed):
        with outputs.open_committed(path) as f:
            f.write("partial")
            raise Killed
    assert path.read_text() == '{"a": 1}'
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_durable_commit_of_a_tree(tmp_path: Path):
    with outputs.committed_output(tmp_path / "v1", durable=True, make_dir=True) as staging:
        (staging / "variables").mkdir()
        (staging / "variables" / "x").write_bytes(b"1")
    assert (tmp_path / "v1" / "variables" / "x").read_bytes() == b"1"


def test_file_uri_is_local(tmp_path: Path):
    assert outputs.is_local(f"file://{tmp_path}") and outputs.is_local(tmp_path)
    assert not outputs.is_local("gs://b/x") and not outputs.is_local("s3://b/x")
    outputs.write_file_atomic(f"file://{tmp_path}/f.txt", "x")
    assert (tmp_path / "f.txt").read_text() == "x"


# --- object store (ram://) -------------------------------------------------------------------


def test_store_dir_is_published_with_the_marker_last(bucket: str, monkeypatch):
    final = f"{bucket}/out"
    order = []
    real_rename = tf.io.gfile.rename
    monkeypatch.setattr(
        tf.io.gfile,
        "rename",
        lambda s, d, overwrite=False: (order.append(d), real_rename(s, d, overwrite)),
    )
    with outputs.committed_output(final, last=("meta.json",)) as staging:
        assert staging.startswith(f"{bucket}/.out.staging-")
        _write(f"{staging}/meta.json", "m")
        _write(f"{staging}/Split-train/a", "a")
        assert not outputs.is_committed(final)
    assert _tree(final) == {
        "Split-train/a": "a",
        "meta.json": "m",
        outputs.COMMIT_MARKER: _read(f"{final}/{outputs.COMMIT_MARKER}"),
    }
    assert order[-1] == f"{final}/meta.json"  # then the marker, written (not moved) last
    assert outputs.is_committed(final)
    assert tf.io.gfile.listdir(bucket) == ["out"]


def test_store_kill_mid_write_commits_nothing(bucket: str):
    final = f"{bucket}/out"
    with pytest.raises(Killed):
        with outputs.committed_output(final) as staging:
            _write(f"{staging}/part-0", "half")
            raise Killed
    assert not outputs.is_committed(final)
    assert not tf.io.gfile.exists(final)
    assert not tf.io.gfile.glob(f"{bucket}/.out.staging-*")


def test_store_kill_mid_publish_leaves_an_uncommitted_dir_that_a_rerun_replaces(
    bucket: str, monkeypatch
):
    final = f"{bucket}/out"
    real_rename = tf.io.gfile.rename

    def dies_after_first(src, dst, overwrite=False):
        real_rename(src, dst, overwrite)
        raise Killed

    monkeypatch.setattr(tf.io.gfile, "rename", dies_after_first)
    with pytest.raises(Killed):
        with outputs.committed_output(final) as staging:
            _write(f"{staging}/a", "a")
            _write(f"{staging}/b", "b")
    assert tf.io.gfile.exists(final) and not outputs.is_committed(final)  # partial, untrusted
    monkeypatch.setattr(tf.io.gfile, "rename", real_rename)
    with outputs.committed_output(final, replace=True) as staging:
        _write(f"{staging}/c", "c")
    assert sorted(_tree(final)) == [outputs.COMMIT_MARKER, "c"]


def test_store_replace_and_refuse(bucket: str):
    final = f"{bucket}/out"
    for name in ("old", "new"):
        with outputs.committed_output(final, replace=True) as staging:
            _write(f"{staging}/{name}", name)
    assert sorted(_tree(final)) == [outputs.COMMIT_MARKER, "new"]
    with pytest.raises(outputs.OutputExistsError, match="out"):
        with outputs.committed_output(final) as staging:
            _write(f"{staging}/x", "x")
    assert sorted(_tree(final)) == [outputs.COMMIT_MARKER, "new"]


def test_store_single_file_needs_no_marker(bucket: str):
    path = f"{bucket}/reports/report.json"
    outputs.write_file_atomic(path, "{}")
    outputs.write_file_atomic(path, "{1}")
    assert _read(path) == "{1}" and outputs.is_committed(path)
    with pytest.raises(Killed):
        with outputs.open_committed(path) as f:
            f.write("partial")
            raise Killed
    assert _read(path) == "{1}"
    assert tf.io.gfile.listdir(f"{bucket}/reports") == ["report.json"]
    assert not outputs.is_committed(f"{bucket}/reports/absent.json")
