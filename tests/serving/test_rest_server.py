"""The served-model contract: a real server on 127.0.0.1 speaking TF Serving's REST API."""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import io
import threading
import time
import urllib.request

import pytest
from PIL import Image
from toy_serving import JsonClient, png_claiming_size, solid_image

from serving import publish as publish_module
from serving.publish import publish, rollback

RED = solid_image((220, 40, 30))  # "a dark red photo", score 220/255
SKY = solid_image((30, 240, 250))  # "a bright blue photo", score 250/255
MAX_REQUEST_BYTES = 200_000
MAX_IMAGE_PIXELS = 1_000_000


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def bright_corner_png() -> bytes:
    """Black 16x16 with a white top-right 4x4 block: cell 3 of the 4x4 attention grid."""
    image = Image.new("RGB", (16, 16), (0, 0, 0))
    image.paste((255, 255, 255), (12, 0, 16, 4))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def wait_until(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def served(toy_models, tmp_path_factory):
    """One server for the read-only contract tests: version 1 of model "toy"."""
    from serving.server import ModelServer

    base = tmp_path_factory.mktemp("contract_base")
    publish(toy_models["v1"], base, "toy")
    server = ModelServer(
        base,
        "toy",
        host="127.0.0.1",
        port=0,
        poll_seconds=0.2,
        max_request_bytes=MAX_REQUEST_BYTES,
        max_image_pixels=MAX_IMAGE_PIXELS,
        batch_timeout_ms=20,
    ).start()
    yield server, JsonClient(server.url)
    server.stop()


# --- status and metadata -------------------------------------------------------------------


def test_model_status(served):
    _, http = served
    expected = {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert http.get("/v1/models/toy") == (200, expected)
    assert http.get("/v1/models/toy/versions/1") == (200, expected)


def test_metadata_has_tf_serving_shape(served):
    _, http = served
    status, body = http.get("/v1/models/toy/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "toy", "version": "1", "signature_name": ""}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "story", "from_features"} <= set(signatures)
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["images"]["dtype"] == "DT_STRING"
    assert [d["size"] for d in default["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1"]
    assert set(default["outputs"]) == {"captions", "scores", "attention"}
    assert [d["size"] for d in default["outputs"]["attention"]["tensor_shape"]["dim"]] == [
        "-1",
        "5",
        "16",
    ]
    story = signatures["story"]["inputs"]["images"]["tensor_shape"]["dim"]
    assert [d["size"] for d in story] == ["-1", "5"]
    assert http.get("/v1/models/toy/versions/1/metadata")[1]["model_spec"]["version"] == "1"


# --- predict -------------------------------------------------------------------------------


def test_predict_rows_with_b64_images(served):
    _, http = served
    status, body = http.post("/v1/models/toy:predict", {"instances": [b64(RED), b64(SKY)]})
    assert status == 200, body
    first, second = body["predictions"]
    assert first["captions"] == "v1 a dark red photo"
    assert first["scores"] == pytest.approx(220 / 255, abs=1e-5)
    assert second["captions"] == "v1 a bright blue photo"
    assert len(first["attention"]) == 5 and len(first["attention"][0]) == 16
    assert sum(first["attention"][0]) == pytest.approx(1.0, abs=1e-4)


def test_attention_points_at_the_bright_region(served):
    _, http = served
    body = http.post("/v1/models/toy:predict", {"instances": [b64(bright_corner_png())]})[1]
    for step in body["predictions"][0]["attention"]:
        assert max(range(16), key=step.__getitem__) == 3


def test_predict_columns(served):
    _, http = served
    status, body = http.post(
        "/v1/models/toy/versions/1:predict",
        {"signature_name": "serving_default", "inputs": {"images": [b64(SKY), b64(RED)]}},
    )
    assert status == 200, body
    assert body["outputs"]["captions"] == ["v1 a bright blue photo", "v1 a dark red photo"]
    assert body["outputs"]["scores"] == pytest.approx([250 / 255, 220 / 255], abs=1e-5)
    assert "predictions" not in body


def test_story_signature(served):
    _, http = served
    album = [b64(RED), b64(SKY), b64(RED), b64(SKY), b64(RED)]
    status, body = http.post(
        "/v1/models/toy:predict", {"signature_name": "story", "instances": [album]}
    )
    assert status == 200, body
    assert body["predictions"][0]["sentences"] == [
        "v1 sentence 1: a dark red photo",
        "v1 sentence 2: a bright blue photo",
        "v1 sentence 3: a dark red photo",
        "v1 sentence 4: a bright blue photo",
        "v1 sentence 5: a dark red photo",
    ]


def test_from_features_numeric_input(served):
    _, http = served
    status, body = http.post(
        "/v1/models/toy:predict",
        {"signature_name": "from_features", "inputs": [[0.0] * 8, [1.0] * 8]},
    )
    assert status == 200, body
    # sigmoid(0) = 0.5 on every channel: a tie resolved to red, "dark" (not > 0.5).
    assert body["outputs"]["captions"][0] == "v1 a dark red photo"
    assert body["outputs"]["scores"][0] == pytest.approx(0.5)


def test_concurrent_requests_are_batched(served):
    server, http = served
    with server.manager.acquire() as loaded:
        batcher = loaded.runners["serving_default"].batcher
    calls_before, n = batcher.calls, 16
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        results = list(
            pool.map(
                lambda _: http.post("/v1/models/toy:predict", {"instances": [b64(RED)]}), range(n)
            )
        )
    assert all(
        s == 200 and b["predictions"][0]["captions"] == "v1 a dark red photo" for s, b in results
    )
    assert batcher.calls - calls_before < n
    # The same counters are exported for monitoring.
    metrics = urllib.request.urlopen(server.url + "/monitoring/prometheus/metrics").read().decode()
    labels = 'model="toy",version="1",signature="serving_default"'
    assert f"vistflow_model_calls_total{{{labels}}} {batcher.calls}" in metrics
    assert f"vistflow_model_rows_total{{{labels}}} {batcher.rows}" in metrics
    assert 'vistflow_http_requests_total{method="POST",code="200"}' in metrics


def test_an_undecodable_image_fails_only_its_own_request(served):
    _, http = served
    bodies = [{"instances": [b64(RED)]}] * 8 + [{"instances": [b64(TRUNCATED_PNG)]}]
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(lambda b: http.post("/v1/models/toy:predict", b), bodies))
    assert [s for s, _ in results] == [200] * 8 + [400]
    assert "Invalid PNG data" in results[-1][1]["error"]


# --- client mistakes: 4xx with a JSON error, never 500 -------------------------------------


def _truncated_png() -> bytes:
    """A noisy PNG cut in half: its header passes the cheap check, only decoding fails."""
    import numpy as np

    pixels = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


TRUNCATED_PNG = _truncated_png()


@pytest.mark.parametrize(
    "path, body, raw, status, fragment",
    [
        ("/v1/models/toy:predict", None, b"{not json", 400, "JSON Parse error"),
        ("/v1/models/toy:predict", None, b"", 400, "empty"),
        ("/v1/models/toy:predict", [1, 2], None, 400, "must be a JSON object"),
        (
            "/v1/models/toy:predict",
            {"signature_name": "nope", "instances": [1]},
            None,
            400,
            '"nope" not found',
        ),
        (
            "/v1/models/toy:predict",
            {"instances": [{"pictures": b64(RED)}]},
            None,
            400,
            "unknown ['pictures']",
        ),
        (
            "/v1/models/toy:predict",
            {"inputs": {"imgs": [b64(RED)]}},
            None,
            400,
            "missing ['images']",
        ),
        (
            "/v1/models/toy:predict",
            {"signature_name": "story", "instances": [[b64(RED)] * 4]},
            None,
            400,
            "expects [-1, 5]",
        ),
        ("/v1/models/toy:predict", {"instances": [[b64(RED)]]}, None, 400, "expects [-1]"),
        (
            "/v1/models/toy:predict",
            {"instances": [b64(b"GIF89a, not really")]},
            None,
            400,
            "images'[0]",
        ),
        (
            "/v1/models/toy:predict",
            {"instances": ["plain text"]},
            None,
            400,
            "format the server recognises",
        ),
        (
            "/v1/models/toy:predict",
            {"instances": [b64(RED), b64(b"")]},
            None,
            400,
            "images'[1]: empty image",
        ),
        ("/v1/models/toy:predict", {"instances": [{"b64": "%%%"}]}, None, 400, "base64"),
        (
            "/v1/models/toy:predict",
            {"instances": [b64(png_claiming_size(2000, 1000))]},
            None,
            400,
            "2000x1000 = 2000000 pixels, above this server's limit of 1000000",
        ),
        (
            "/v1/models/toy:predict",
            {"instances": [b64(TRUNCATED_PNG)]},
            None,
            400,
            "Invalid PNG data",
        ),
        (
            "/v1/models/toy:predict",
            {"instances": [b64(RED)], "inputs": [b64(RED)]},
            None,
            400,
            "both 'instances' and 'inputs'",
        ),
        (
            "/v1/models/toy:predict",
            {"instances": [b64(RED)] * 2000},
            None,
            413,
            "above this server's limit",
        ),
        ("/v1/models/other:predict", {"instances": [b64(RED)]}, None, 404, "model other"),
        (
            "/v1/models/toy/versions/9:predict",
            {"instances": [b64(RED)]},
            None,
            404,
            "Specific(toy, 9)",
        ),
        ("/v1/models/toy:classify", {"examples": []}, None, 400, "not supported"),
        (
            "/v1/models/toy/versions/x:predict",
            {"instances": [b64(RED)]},
            None,
            400,
            "Malformed request",
        ),
    ],
)
def test_client_mistakes_get_4xx_json_errors(served, path, body, raw, status, fragment):
    _, http = served
    got_status, got = http.post(path, body, raw)
    assert got_status == status, got
    assert fragment in got["error"]


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v1/models/other", 404),
        ("GET", "/v1/models/toy/versions/3", 404),
        ("GET", "/v1/models/toy/versions/3/metadata", 404),
        ("GET", "/v1/models/toy:predict", 405),
        ("POST", "/v1/models/toy", 405),
        ("GET", "/v1/nothing/here", 400),
        ("GET", "/no/such/page", 404),
    ],
)
def test_unknown_paths_and_methods(served, method, path, status):
    _, http = served
    got_status, got = http.request(method, path)
    assert got_status == status
    assert isinstance(got, dict) and got["error"]


def test_server_survived_all_mistakes(served):
    _, http = served
    assert http.post("/v1/models/toy:predict", {"instances": [b64(RED)]})[0] == 200


def test_web_page_and_assets_are_served(served):
    _, http = served
    status, page = http.get("/")
    assert status == 200 and '<meta name="vistflow-model" content="toy">' in page
    status, script = http.get("/static/app.js")
    assert status == 200 and ":predict" in script


# --- versions: hot swap, atomic publish, rollback ------------------------------------------


def _caption_marker(http: JsonClient, path: str = "/v1/models/toy:predict") -> str:
    status, body = http.post(path, {"instances": [b64(RED)]})
    assert status == 200, body
    return body["predictions"][0]["captions"].split()[0]


def test_hot_swap_under_load_drops_nothing(toy_models, make_server, tmp_path):
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "toy")
    server, http = make_server(base)
    seen: collections.Counter = collections.Counter()
    failures: list = []
    stop = threading.Event()

    def client():
        for _ in range(3000):  # bounded even if the swap never happened
            if stop.is_set():
                return
            status, body = http.post("/v1/models/toy:predict", {"instances": [b64(RED)]})
            if status != 200:
                failures.append((status, body))
            else:
                seen[body["predictions"][0]["captions"].split()[0]] += 1

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: seen["v1"] >= 20, what="v1 answers")
        publish(toy_models["v2"], base, "toy")
        wait_until(lambda: seen["v2"] >= 40, what="v2 answers")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert seen["v1"] >= 20 and seen["v2"] >= 40
    # v1 was unloaded only after its in-flight requests finished; v2 is the one served.
    states = {
        s["version"]: s["state"] for s in http.get("/v1/models/toy")[1]["model_version_status"]
    }
    wait_until(lambda: server.manager.status(1)[0][1].state == "END", what="v1 END")
    assert states["2"] == "AVAILABLE"


def test_half_copied_version_is_never_loaded(toy_models, make_server, tmp_path, monkeypatch):
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "toy")
    server, http = make_server(base, poll_seconds=0.05)
    paused, resume = threading.Event(), threading.Event()
    real_copy = publish_module._copy_and_fsync

    def slow_copy(src, dst):
        result = real_copy(src, dst)
        if dst.endswith("saved_model.pb"):
            paused.set()
            resume.wait(20)
        return result

    monkeypatch.setattr(publish_module, "_copy_and_fsync", slow_copy)
    publisher = threading.Thread(target=publish, args=(toy_models["v2"], base, "toy"))
    publisher.start()
    try:
        assert paused.wait(20)
        staging = [p.name for p in (base / "toy").iterdir() if p.name.startswith(".tmp-")]
        assert len(staging) == 1 and staging[0].startswith(".tmp-2-")
        for _ in range(3):
            server.manager.poll_once()
        assert server.manager.loaded_versions() == [1]
        assert [s["version"] for s in http.get("/v1/models/toy")[1]["model_version_status"]] == [
            "1"
        ]
        assert _caption_marker(http) == "v1"
    finally:
        resume.set()
        publisher.join(30)
    wait_until(lambda: server.manager.loaded_versions() == [2], what="v2 loaded")
    assert _caption_marker(http) == "v2"


@pytest.mark.filterwarnings("ignore:Unexpected end-group tag")  # protobuf on the corrupt file
def test_broken_or_incomplete_versions_keep_the_old_one_serving(toy_models, make_server, tmp_path):
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "toy")
    (base / "toy" / "7" / "variables").mkdir(parents=True)  # no saved_model.pb: not a version
    server, http = make_server(base)
    (base / "toy" / "8").mkdir()
    (base / "toy" / "8" / "saved_model.pb").write_bytes(b"this is not a protobuf")
    wait_until(lambda: 8 in dict(server.manager.status()), what="version 8 attempted")
    wait_until(lambda: server.manager.status(8)[0][1].state == "END", what="version 8 failed")
    status, body = http.get("/v1/models/toy/versions/8")
    assert status == 200
    entry = body["model_version_status"][0]
    assert entry["state"] == "END" and entry["status"]["error_code"] == "UNKNOWN"
    assert "failed to load" in entry["status"]["error_message"]
    assert server.manager.loaded_versions() == [1]
    assert _caption_marker(http) == "v1"
    assert http.get("/v1/models/toy/versions/7")[0] == 404


def test_keeping_two_versions_makes_both_addressable(toy_models, make_server, tmp_path):
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "toy")
    publish(toy_models["v2"], base, "toy")
    _, http = make_server(base, num_versions=2)
    assert _caption_marker(http) == "v2"
    assert _caption_marker(http, "/v1/models/toy/versions/1:predict") == "v1"
    assert _caption_marker(http, "/v1/models/toy/versions/2:predict") == "v2"
    states = http.get("/v1/models/toy")[1]["model_version_status"]
    assert [(s["version"], s["state"]) for s in states] == [("2", "AVAILABLE"), ("1", "AVAILABLE")]


def test_rollback_is_picked_up_as_a_new_version(toy_models, make_server, tmp_path):
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "toy")
    publish(toy_models["v2"], base, "toy")
    server, http = make_server(base)
    assert _caption_marker(http) == "v2"
    assert rollback(base, "toy") == 3
    wait_until(lambda: server.manager.loaded_versions() == [3], what="version 3 loaded")
    assert _caption_marker(http) == "v1"


def test_batching_can_be_disabled(toy_models, make_server, tmp_path):
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "toy")
    server, http = make_server(base, max_batch_size=1)
    with server.manager.acquire() as loaded:
        assert loaded.runners["serving_default"].batcher is None
    assert _caption_marker(http) == "v1"
