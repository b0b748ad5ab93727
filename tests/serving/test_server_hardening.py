"""Hostile requests against the real server: client errors are 400 with a JSON error, never 500;
load does not flood the log."""

from __future__ import annotations

import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.publish import publish
from serving.server import QUEUE_LOGGER


@pytest.fixture(scope="module")
def base(toy_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("hardening")
    publish(toy_models["v1"], root, "toy")
    return root


def _nested(depth: int, leaf: str = "1") -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


HOSTILE = dict(
    [
        ("33 levels", b'{"instances": ' + _nested(33) + b"}"),
        ("100,000 levels", b'{"instances": ' + _nested(100_000) + b"}"),
        (
            "100,000 levels of objects",
            b'{"instances": [' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]}",
        ),
        ("lone surrogate instance", b'{"instances": ["\\ud800"]}'),
        ("lone surrogate b64", b'{"instances": [{"b64": "\\udfff"}]}'),
        ("lone surrogate signature", b'{"signature_name": "\\ud800", "instances": [1]}'),
        ("lone surrogate input name", b'{"inputs": {"\\ud800": [1]}}'),
    ]
)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_json_is_a_400_with_a_json_error(make_server, base, name):
    body = HOSTILE[name]
    _, http = make_server(base)
    status, answer = http.request("POST", "/v1/models/toy:predict", raw=body)
    assert status == 400, (name, status, answer)
    assert isinstance(answer, dict) and isinstance(answer.get("error"), str), answer
    json.dumps(answer, ensure_ascii=False).encode("utf-8")  # the error itself is valid UTF-8


def test_queue_depth_warnings_are_summarised(make_server, base, caplog):
    _, http = make_server(base, threads=1)
    with caplog.at_level(logging.WARNING, logger=QUEUE_LOGGER):
        with ThreadPoolExecutor(24) as pool:
            statuses = list(pool.map(lambda _: http.get("/v1/models/toy")[0], range(240)))
    assert statuses == [200] * 240
    queue_lines = [r for r in caplog.records if r.name == QUEUE_LOGGER]
    # One line per 30 s interval, carrying the peak (waitress alone logs one per queued request).
    assert 1 <= len(queue_lines) <= 2, [r.getMessage() for r in queue_lines]
    assert "peak" in queue_lines[0].getMessage()


def _png(rgb: tuple[int, int, int], size: int = 8) -> dict:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, format="PNG")
    return {"b64": base64.b64encode(buf.getvalue()).decode()}


def test_more_instances_than_the_limit_is_a_400_naming_it(make_server, base):
    _, http = make_server(base, max_instances=10)
    status, answer = http.post("/v1/models/toy:predict", {"instances": [_png((200, 0, 0))] * 11})
    assert status == 400
    assert "at most 10" in answer["error"] and "--max-instances" in answer["error"]
    status, answer = http.post("/v1/models/toy:predict", {"inputs": [_png((200, 0, 0))] * 11})
    assert status == 400 and "at most 10" in answer["error"]
    assert http.post("/v1/models/toy:predict", {"instances": [_png((200, 0, 0))] * 10})[0] == 200


def test_a_large_request_runs_in_batch_sized_chunks_with_the_same_answers(make_server, base):
    server, http = make_server(base, max_batch_size=4, max_instances=64)
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (30, 30, 90)]
    instances = [_png(colours[i % 4]) for i in range(30)]
    status, big = http.post("/v1/models/toy:predict", {"instances": instances})
    assert status == 200 and len(big["predictions"]) == 30
    singles = [http.post("/v1/models/toy:predict", {"instances": [x]})[1] for x in instances[:4]]
    for i, row in enumerate(big["predictions"]):
        assert row == singles[i % 4]["predictions"][0]
    (loaded,) = server.manager.loaded()
    batcher = loaded.runners["serving_default"].batcher
    # 30 rows never reached the model together: at most max_batch_size rows per call.
    assert batcher.calls >= 8 and batcher.rows == 30 + 4


def test_concat_padded_pads_every_axis_beyond_the_batch():
    import numpy as np

    from serving.servable import concat_padded

    a = np.ones((2, 3, 4), np.float32)
    b = np.full((1, 5, 4), 2.0, np.float32)
    out = concat_padded([a, b])
    assert out.shape == (3, 5, 4)
    assert out[:2, 3:].sum() == 0 and out[2].min() == 2.0
    s = concat_padded([np.array([[b"a"]], object), np.array([[b"b", b"c"]], object)])
    assert s.tolist() == [[b"a", b""], [b"b", b"c"]]


def test_stop_ends_the_loop_and_closes_the_port_when_the_trigger_cannot_be_written(
    make_server, base
):
    """CI once saw stop() raise EBADF from waitress's trigger; stopping must not depend on it."""
    import errno
    import socket

    server, http = make_server(base)
    assert http.get("/v1/models/toy")[0] == 200

    def broken_pull():
        raise OSError(errno.EBADF, "Bad file descriptor")

    server._server.trigger._physical_pull = broken_pull
    loop = server._thread
    server.stop()  # must not raise
    assert not loop.is_alive()
    assert server._socket_map == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
