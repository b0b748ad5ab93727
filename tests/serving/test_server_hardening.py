"""Hostile requests against the real server: client errors are 400 with a JSON error, never 500;
load does not flood the log."""

from __future__ import annotations

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
