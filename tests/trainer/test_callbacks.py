"""Training callbacks' outputs on an object store: nothing left behind on local disk."""

from __future__ import annotations

import tempfile
import uuid


def test_the_loss_plot_goes_to_a_bucket_without_a_local_copy(tmp_path, monkeypatch):
    import tensorflow as tf

    from trainer.callbacks import plot_history

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = f"ram://run-{uuid.uuid4().hex[:8]}/loss.png"
    history = [
        {"epoch": 0, "loss": 1.2, "val_loss": 1.3},
        {"epoch": 1, "loss": 0.9, "val_loss": 1.1},
    ]
    plot_history(history, path, "a run")
    with tf.io.gfile.GFile(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert list(scratch.iterdir()) == []
