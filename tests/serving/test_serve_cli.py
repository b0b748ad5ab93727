"""`vistflow serve` end to end in this process: starts, answers, stops cleanly on SIGTERM."""

from __future__ import annotations

import base64
import os
import signal
import socket
import threading
import time

import pytest
from toy_serving import JsonClient, solid_image

from commands.main import main as cli_main
from serving.publish import publish


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_then_stops_on_sigterm(toy_models, tmp_path):
    base = tmp_path / "models"
    publish(toy_models["v1"], base, "toy")
    port = _free_port()
    seen: dict = {}

    def drive() -> None:
        http = JsonClient(f"http://127.0.0.1:{port}", timeout=10)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    seen["status"] = http.get("/v1/models/toy")
                    break
                except OSError:
                    time.sleep(0.1)
            image = {"b64": base64.b64encode(solid_image((220, 40, 30))).decode()}
            seen["predict"] = http.post("/v1/models/toy:predict", {"instances": [image]})
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # what `docker stop` sends

    previous = signal.getsignal(signal.SIGTERM)
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        code = cli_main(
            ["serve", "--model-base-path", str(base), "--model-name", "toy", "--port", str(port)]
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    driver.join(10)
    assert code == 0
    assert seen["status"][0] == 200
    assert seen["status"][1]["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = seen["predict"]
    assert status == 200 and body["predictions"][0]["captions"] == "v1 a dark red photo"
    # The listener really closed: nothing accepts connections and the port can be listened on
    # again. SO_REUSEADDR (as servers set it) ignores the finished connections' TIME_WAIT
    # entries, which otherwise make a plain bind fail although nothing listens any more.
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_serve_rejects_a_missing_base_path(tmp_path, capsys):
    code = cli_main(["serve", "--model-base-path", str(tmp_path / "nope"), "--model-name", "toy"])
    assert code == 2
    assert "nope: --model-base-path is not a directory" in capsys.readouterr().err
