"""The web page at / in headless Chromium, driven over the DevTools protocol (no chromedriver)."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from toy_serving import solid_image

from serving.publish import publish

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str):
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=30)
        self._next_id = 0

    def call(self, method: str, **params) -> dict:
        self._next_id += 1
        msg_id = self._next_id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:  # skip events until our answer arrives
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete' && "
            "document.querySelector('#model-status').classList.contains('ok')"
        )

    def pick_files(self, selector: str, paths: list[Path]) -> None:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.call("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with a DevTools port; yields a DevTools client on its page."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "--window-size=1100,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited during start-up"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.loads(resp.read())
        page = next(t for t in targets if t["type"] == "page")
        client = DevTools(page["webSocketDebuggerUrl"])
        client.call("Page.enable")
        yield client
        client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page_url(toy_models, make_server, tmp_path):
    base = tmp_path / "base"
    publish(toy_models["v1"], base, "toy")
    server, _ = make_server(base)
    return server.url + "/"


def _bright_corner(path: Path) -> Path:
    """160x160 black with a white top-right 40x40 block (attention cell 3 of the 4x4 grid)."""
    image = Image.new("RGB", (160, 160), (0, 0, 0))
    image.paste((255, 255, 255), (120, 0, 160, 40))
    image.save(path)
    return path


CAPTIONS_JS = "[...document.querySelectorAll('.caption-text')].map(e => e.textContent.trim())"


def test_caption_with_attention_overlay(browser, page_url, tmp_path):
    browser.open(page_url)
    assert browser.evaluate("document.querySelector('#model-name').textContent") == "toy"
    browser.pick_files("#files", [_bright_corner(tmp_path / "corner.png")])
    browser.wait_for("document.querySelector('#result').dataset.state === 'done'")
    assert browser.evaluate(CAPTIONS_JS) == ["v1 a dark red photo"]
    assert browser.evaluate("document.querySelector('.card canvas').dataset.attention") == "drawn"
    # The overlay is strongest where the model looked: the white corner turns red, while the
    # black corner only gets a faint tint.
    corner, opposite = browser.evaluate(
        "(() => { const c = document.querySelector('.card canvas').getContext('2d');"
        " return [[...c.getImageData(150, 10, 1, 1).data], [...c.getImageData(10, 150, 1, 1).data]]; })()"
    )
    assert corner[0] > 200 and corner[1] < 120, corner  # white under a strong red overlay
    assert max(opposite[:3]) < 90, opposite  # black under a faint overlay
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "caption.png").write_bytes(shot)
    assert Image.open(io.BytesIO(shot)).size[0] > 500


def test_story_from_five_images_in_name_order(browser, page_url, tmp_path):
    colours = [(220, 40, 30), (30, 240, 250), (20, 200, 40), (250, 250, 40), (10, 10, 90)]
    paths = []
    for i, rgb in reversed(list(enumerate(colours))):
        path = tmp_path / f"photo{i}.png"
        path.write_bytes(solid_image(rgb, size=(120, 80)))
        paths.append(path)
    browser.open(page_url)
    browser.pick_files("#files", paths)
    browser.wait_for("document.querySelector('#result').dataset.state === 'done'")
    assert browser.evaluate(CAPTIONS_JS) == [
        "v1 sentence 1: a dark red photo",
        "v1 sentence 2: a bright blue photo",
        "v1 sentence 3: a dark green photo",
        "v1 sentence 4: a bright red photo",
        "v1 sentence 5: a dark blue photo",
    ]
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "story.png").write_bytes(shot)


def test_wrong_number_of_images_and_server_errors_are_shown(browser, page_url, tmp_path):
    browser.open(page_url)
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for p in paths:
        p.write_bytes(solid_image((1, 2, 3)))
    browser.pick_files("#files", paths)
    text = browser.wait_for(
        "!document.querySelector('#error').hidden && document.querySelector('#error').textContent"
    )
    assert "Got 3 images" in text
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not really a png")
    browser.pick_files("#files", [fake])
    browser.wait_for("document.querySelector('#result').dataset.state === 'error'")
    assert "format the server recognises" in browser.evaluate(
        "document.querySelector('#error').textContent"
    )


def test_demo_mode_runs_without_user_input(browser, page_url):
    browser.open(page_url + "?demo=1")
    browser.wait_for("document.querySelector('#result').dataset.state === 'done'")
    assert browser.evaluate(CAPTIONS_JS) == ["v1 a dark red photo"]
