"""Fixtures for serving tests: servers on free loopback ports (toy models: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def make_server() -> Iterator:
    """Factory: start a ModelServer on a free 127.0.0.1 port -> (server, JsonClient).

    Every server it started is stopped at teardown.
    """
    from toy_serving import JsonClient

    from serving.server import ModelServer

    servers = []

    def _make(base: Path, model_name: str = "toy", **kwargs):
        kwargs.setdefault("poll_seconds", 0.1)
        server = ModelServer(base, model_name, host="127.0.0.1", port=0, **kwargs).start()
        servers.append(server)
        return server, JsonClient(server.url)

    yield _make
    for server in servers:
        server.stop()
