"""Every root on a real S3 API (moto's server on localhost, tests/fixtures/moto_server.py):
ingest -> features -> publish -> serve from the bucket -> batch-caption into the bucket, and a
kill mid-ingest / mid-batch-caption leaves nothing committed, the rerun the same results.

The stages run as `vistflow ...` subprocesses with tensorflow-io and boto3 from
`.venv-s3-site` (TensorFlow's s3:// and Beam's S3 filesystem). Cheap on purpose: 6 synthetic
stories, the tiny backbone, and the toy captioner published in place of a trained model (train,
evaluate and push on the bucket are not run here; `vistflow train --out s3://...` was checked by
hand, see issue 14's note).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from moto_server import moto_server

from vistflow.outputs import COMMIT_MARKER

BUCKET = "vist"
S3 = f"s3://{BUCKET}"


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "commands", *args]


def _run(env: dict, *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        _cmd(*args), env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args[0]} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout


def _kill_when(env: dict, args: tuple, appeared, timeout: float = 180) -> None:
    """Start a stage, SIGKILL its process group as soon as `appeared()` holds."""
    process = subprocess.Popen(
        _cmd(*args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not appeared():
            assert process.poll() is None, f"{args[0]} ended before it could be killed"
            assert time.monotonic() < deadline, f"{args[0]}: nothing appeared to kill it at"
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    from vistflow.synth import generate

    data = tmp_path_factory.mktemp("synth")
    generate(data, stories=6, seed=1, fault_rate=0.0, image_size=32)
    with moto_server() as server:
        server.create_bucket(BUCKET)
        server.upload_tree(data, BUCKET, "data")
        yield server


def _committed(s3, prefix: str) -> bool:
    return f"{prefix}/{COMMIT_MARKER}" in s3.keys(BUCKET, f"{prefix}/")


def test_ingest_killed_midway_commits_nothing_and_the_rerun_equals_a_local_run(s3, tmp_path):
    env = s3.env()
    ingest = ("ingest", "--data-root", f"{S3}/data", "--out", f"{S3}/ingest")
    _kill_when(env, ingest, lambda: s3.keys(BUCKET, "ingest.incomplete/"))
    assert not s3.keys(BUCKET, "ingest/")  # nothing under the final name, no marker
    _run(env, *ingest)
    assert _committed(s3, "ingest")
    assert not s3.keys(BUCKET, "ingest.incomplete/")
    local = tmp_path / "ingest"
    data = tmp_path / "data"
    from vistflow.synth import generate

    generate(data, stories=6, seed=1, fault_rate=0.0, image_size=32)
    _run(env, "ingest", "--data-root", str(data), "--out", str(local))
    on_bucket = json.loads(s3.get(BUCKET, "ingest/report.json"))
    here = json.loads((local / "report.json").read_text())
    for split in ("train", "val", "test"):
        assert on_bucket[split] == here[split]
    assert on_bucket["images"]["checked"] == here["images"]["checked"]


def test_beam_s3_operations_of_a_process_share_one_boto3_client(s3):
    # Beam 2.59 builds a boto3 session and client per operation (~0.1 s each, most of a small
    # ingest's time on a bucket); vistflow.s3_exit's mend shares one per process and settings.
    code = (
        "import os, sys\nimport boto3.session\nfrom vistflow import image_limits, s3_exit\n"
        "s3_exit.load_plugin_for('s3://vist/data')\n"
        "made = []\nbuild = boto3.session.Session.client\n"
        "def count(self, *a, **k):\n    made.append(1)\n    return build(self, *a, **k)\n"
        "boto3.session.Session.client = count\n"
        "paths = sys.argv[1:]\n"
        "sizes = [image_limits.reported_size(p) for p in paths]\n"
        "data = [image_limits.read_file(p, 10**7) for p in paths]\n"
        "print(len(made), sizes == [len(d) for d in data], min(sizes), flush=True)\nos._exit(0)"
    )
    images = [k for k in s3.keys(BUCKET, "data/images/train/")][:5]
    assert len(images) == 5
    done = subprocess.run(
        [sys.executable, "-c", code, *(f"{S3}/{k}" for k in images)],
        env=s3.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    clients, sizes_match, smallest = done.stdout.split()
    assert (clients, sizes_match) == ("1", "True"), done.stdout  # 10 operations, one client
    assert int(smallest) > 0


def test_features_on_the_bucket(s3):
    assert _committed(s3, "ingest"), "needs the ingest output of the test above (it failed)"
    _run(
        s3.env(),
        "features",
        "--examples",
        f"{S3}/ingest/examples",
        "--out",
        f"{S3}/features",
        "--backbone",
        "tiny",
    )
    assert _committed(s3, "features")
    keys = s3.keys(BUCKET, "features/")
    assert "features/features_metadata.json" in keys
    assert any(k.startswith("features/Split-train/data_tfrecord-") for k in keys)
    meta = json.loads(s3.get(BUCKET, "features/features_metadata.json"))
    assert meta["images"]["failed"] == 0


def _publish(env: dict, src: str, base: str) -> None:
    # serving.publish in a subprocess: the s3 plugin must not be loaded in pytest's process.
    code = (
        "import os, sys\nfrom serving.publish import publish\n"
        "print(publish(sys.argv[1], sys.argv[2], 'captioner'), flush=True)\nos._exit(0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, src, base],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _status(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}/v1/models/captioner"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return {}
    return {s["version"]: s["state"] for s in body["model_version_status"]}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_from_the_bucket_picks_up_a_new_version_without_a_restart(s3, toy_models):
    env = s3.env()
    base = f"{S3}/serving"
    _publish(env, str(toy_models["v1"]), base)
    assert _committed(s3, "serving/captioner/1")
    port = _free_port()
    server = subprocess.Popen(
        _cmd(
            "serve",
            "--model-base-path",
            base,
            "--model-name",
            "captioner",
            "--port",
            str(port),
            "--poll-seconds",
            "1",
        ),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while _status(port).get("1") != "AVAILABLE":
            assert server.poll() is None and time.monotonic() < deadline, "server did not load v1"
            time.sleep(0.5)
        s3.put(BUCKET, "serving/captioner/7/saved_model.pb", b"half a copy")  # uncommitted
        _publish(env, str(toy_models["v2"]), base)  # takes 8: above every number seen
        while _status(port).get("8") != "AVAILABLE":
            assert server.poll() is None and time.monotonic() < deadline, "v8 was not picked up"
            time.sleep(0.5)
        assert "7" not in _status(port)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def _captions(s3, prefix: str) -> list[dict]:
    rows = [json.loads(line) for line in s3.get(BUCKET, f"{prefix}/captions.jsonl").splitlines()]
    return sorted(({"path": r["path"], "caption": r["caption"]} for r in rows), key=str)


def test_batch_caption_killed_midway_resumes_to_the_same_captions(s3):
    assert _committed(s3, "serving/captioner/1"), "needs the published model of the test above"
    env = s3.env()

    def caption(out: str) -> tuple:
        return (
            "batch-caption",
            "--model",
            f"{S3}/serving/captioner/1",
            "--input",
            f"{S3}/data/images/test/*",
            "--output",
            f"{S3}/{out}",
            "--batch-size",
            "2",
            "--rows-per-part",
            "2",
        )

    _run(env, *caption("clean"))
    _kill_when(env, caption("resumed"), lambda: s3.keys(BUCKET, "resumed/_parts/captions/part-"))
    assert "resumed/captions.jsonl" not in s3.keys(BUCKET, "resumed/")
    parts = s3.keys(BUCKET, "resumed/_parts/captions/part-")
    summary = json.loads(_run(env, *caption("resumed")))
    assert summary["output_state"] == "resume"
    assert summary["skipped_already_done"] >= 2 * len(parts)  # the killed run's parts count
    assert _captions(s3, "resumed") == _captions(s3, "clean")
    assert len(_captions(s3, "clean")) == summary["inputs"] >= 5
