"""A real trainer export, served: `vistflow serve` (a subprocess), `vistflow caption` / `story`,
and the TF Serving compatibility check.

The other serving tests use the hand-written toy SavedModel of tests/fixtures/toy_serving.py; here the model
is show_attend_tell trained for a few seconds by trainer.train on the trainer tests' tiny feature
artifact (tests/trainer/trainer_testdata.py: solid-colour photos, sentences naming the colour),
with the tiny backbone in the graph, so the images go in as bytes exactly as in production.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "trainer"))  # the trainer's test data helpers

from toy_serving import JsonClient  # noqa: E402
from trainer_testdata import SAT_RUN, TINY_HP, split_pattern, write_artifact  # noqa: E402

from commands.main import main as cli_main  # noqa: E402

MODEL = "captioner"


@pytest.fixture(scope="module")
def real_model(tmp_path_factory):
    """(export dir, published version dir, vocabulary words, val stories' image bytes)."""
    from serving.publish import publish
    from trainer.export import load_captioner
    from trainer.hparams import HParams
    from trainer.train import train

    root = str(tmp_path_factory.mktemp("real_features"))
    info = write_artifact(root, task="sis", stories={"train": 12, "val": 4}, seed=1)
    out = str(tmp_path_factory.mktemp("real_run"))
    result = train(
        split_pattern(root, "train"),
        split_pattern(root, "val"),
        out,
        HParams.from_config({**TINY_HP, **SAT_RUN}),
    )
    version = publish(result.export_dir, tmp_path_factory.mktemp("real_models"), MODEL)
    words = set(load_captioner(result.export_dir).words)
    stories = [example[0] for example in info["examples"]["val"]]  # 5 PNG bytes each
    return result.export_dir, version, words, stories


@pytest.fixture(scope="module")
def direct(real_model):
    """What the SavedModel itself answers (no server), to compare the server's answers with."""
    import tensorflow as tf

    export_dir, _, _, stories = real_model
    loaded = tf.saved_model.load(export_dir)
    photos = [img for story in stories for img in story]
    captions = loaded.signatures["serving_default"](images=tf.constant(photos))
    story = loaded.signatures["story"](images=tf.constant(stories))
    return (
        [c.decode() for c in captions["captions"].numpy()],
        [[s.decode() for s in row] for row in story["sentences"].numpy()],
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(real_model, tmp_path_factory):
    """`vistflow serve` on the published version, as a separate process: -> JsonClient."""
    _, version, _, _ = real_model
    port = _free_port()
    log = tmp_path_factory.mktemp("serve_log") / "serve.log"
    exe = Path(sys.executable).with_name("vistflow")
    cmd = [str(exe), "serve", "--model-base-path", str(version.parents[1]), "--model-name", MODEL]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--poll-seconds", "0.5"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    http = JsonClient(f"http://127.0.0.1:{port}", timeout=60)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"vistflow serve exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no model after 180 s:\n{log.read_text()[-3000:]}"
            try:
                status, body = http.get(f"/v1/models/{MODEL}")
                states = [v["state"] for v in body.get("model_version_status", [])]
                if status == 200 and "AVAILABLE" in states:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        yield http
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert code == 0, log.read_text()[-3000:]


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def _assert_vocabulary_text(text: str, words: set[str]) -> None:
    tokens = text.split()
    assert tokens, "empty caption"
    assert set(tokens) <= words, (text, sorted(words))
    assert "<unk>" not in tokens


def test_published_export_meets_tf_serving_requirements(real_model):
    from tensorflow.core.framework import types_pb2

    from serving.compat import read_meta_graph, tf_serving_problems

    _, version, _, _ = real_model
    assert version.name.isdigit() and (version / "variables" / "variables.index").is_file()
    assert tf_serving_problems(version) == []
    meta_graph = read_meta_graph(version)
    signatures = {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}
    assert {"serving_default", "story", "from_features", "story_from_features"} <= set(signatures)
    images = signatures["serving_default"].inputs["images"]
    assert types_pb2.DataType.Name(images.dtype) == "DT_STRING"
    assert [d.size for d in images.tensor_shape.dim] == [-1]
    story = signatures["story"].inputs["images"]
    assert [d.size for d in story.tensor_shape.dim] == [-1, 5]
    for sig in signatures.values():
        assert sig.method_name == "tensorflow/serving/predict"


def test_status_and_metadata_of_the_served_model(server, real_model):
    _, version, _, _ = real_model
    status, body = server.get(f"/v1/models/{MODEL}")
    assert status == 200
    assert body["model_version_status"][0]["version"] == version.name
    status, meta = server.get(f"/v1/models/{MODEL}/versions/{version.name}/metadata")
    assert status == 200
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "story"} <= set(sigs)


def test_predict_captions_over_rest(server, real_model, direct):
    _, _, words, stories = real_model
    photos = [img for story in stories for img in story]
    status, body = server.post(
        f"/v1/models/{MODEL}:predict", {"instances": [_b64(p) for p in photos]}
    )
    assert status == 200, body
    predictions = body["predictions"]
    assert len(predictions) == len(photos) == 20
    assert [p["captions"] for p in predictions] == direct[0]  # the server runs the export as is
    for p in predictions:
        _assert_vocabulary_text(p["captions"], words)
        assert isinstance(p["scores"], float) and np.isfinite(p["scores"])
        assert np.asarray(p["attention"]).shape == (10, 64)  # [max_length, h*w of the 8x8 grid]
        np.testing.assert_allclose(np.asarray(p["attention"]).sum(-1)[:1], 1.0, atol=1e-4)
    # The columnar ("inputs") form answers the same.
    status, body = server.post(
        f"/v1/models/{MODEL}:predict", {"inputs": {"images": [_b64(p) for p in photos[:3]]}}
    )
    assert status == 200 and body["outputs"]["captions"] == direct[0][:3]


def test_predict_stories_over_rest(server, real_model, direct):
    _, _, words, stories = real_model
    request = {"signature_name": "story", "inputs": {"images": [[_b64(p) for p in stories[0]]]}}
    status, body = server.post(f"/v1/models/{MODEL}:predict", request)
    assert status == 200, body
    sentences = body["outputs"]["sentences"]
    assert len(sentences) == 1 and len(sentences[0]) == 5
    assert sentences[0] == direct[1][0]
    for sentence in sentences[0]:
        _assert_vocabulary_text(sentence, words)
    # Two stories in one request, row form.
    request = {
        "signature_name": "story",
        "instances": [{"images": [_b64(p) for p in s]} for s in stories[:2]],
    }
    status, body = server.post(f"/v1/models/{MODEL}:predict", request)
    assert status == 200, body
    assert [p["sentences"] for p in body["predictions"]] == direct[1][:2]


def test_bad_requests_are_4xx_with_an_error(server, real_model):
    _, _, _, stories = real_model
    predict = f"/v1/models/{MODEL}:predict"
    status, body = server.post(predict, {"instances": [_b64(b"this is not an image at all")]})
    assert status == 400 and "error" in body
    # A PNG header on garbage passes the header check; the model's own decode must fail it.
    broken = stories[0][0][:40]
    status, body = server.post(predict, {"instances": [_b64(broken)]})
    assert status == 400 and "error" in body, body
    four = {"signature_name": "story", "inputs": {"images": [[_b64(p) for p in stories[0][:4]]]}}
    status, body = server.post(predict, four)
    assert status == 400 and "error" in body
    status, body = server.post(f"/v1/models/{MODEL}/versions/999:predict", {"instances": []})
    assert status == 404 and "error" in body
    # The server still answers after the bad requests.
    status, _ = server.post(predict, {"instances": [_b64(stories[0][0])]})
    assert status == 200


@pytest.fixture(scope="module")
def album(real_model, tmp_path_factory):
    _, _, _, stories = real_model
    folder = tmp_path_factory.mktemp("album")
    for i, data in enumerate(stories[1]):
        (folder / f"photo{i}.png").write_bytes(data)
    return folder


def test_caption_cli_on_the_real_export(real_model, direct, album, capsys):
    _, version, words, _ = real_model
    images = sorted(album.iterdir())
    code = cli_main(["caption", "--model", str(version.parent), *map(str, images), "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in rows] == [str(p) for p in images]
    assert [r["text"] for r in rows] == direct[0][5:10]  # story 1's photos
    for row in rows:
        _assert_vocabulary_text(row["text"], words)
        assert np.isfinite(row["score"])


def test_story_cli_on_the_real_export(real_model, direct, album, capsys):
    export_dir, _, words, _ = real_model
    assert cli_main(["story", "--model", export_dir, str(album)]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 5
    assert [row[0] for row in lines] == [str(p) for p in sorted(album.iterdir())]
    assert [row[2] for row in lines] == direct[1][1]
    for row in lines:
        _assert_vocabulary_text(row[2], words)
        float(row[1])
