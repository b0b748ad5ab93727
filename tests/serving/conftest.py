"""Fixtures for serving tests: toy SavedModels (built once) and servers on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory) -> dict[str, Path]:
    """Two versions of the toy captioner whose captions start with "v1" / "v2"."""
    from serving.testing import export_toy_captioner

    root = tmp_path_factory.mktemp("toy_models")
    return {marker: Path(export_toy_captioner(root / marker, marker)) for marker in ("v1", "v2")}


@pytest.fixture
def make_server() -> Iterator:
    """Factory: start a ModelServer on a free 127.0.0.1 port -> (server, JsonClient).

    Every server it started is stopped at teardown.
    """
    from serving.server import ModelServer
    from serving.testing import JsonClient

    servers = []

    def _make(base: Path, model_name: str = "toy", **kwargs):
        kwargs.setdefault("poll_seconds", 0.1)
        server = ModelServer(base, model_name, host="127.0.0.1", port=0, **kwargs).start()
        servers.append(server)
        return server, JsonClient(server.url)

    yield _make
    for server in servers:
        server.stop()
