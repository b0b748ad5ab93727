"""`ModelServer`: the model manager + REST app on waitress (threaded WSGI server).

Used by `vistflow serve` (blocking `serve_forever`) and by tests and benchmarks
(`with ModelServer(...).start() as server: server.url`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path

from serving.app import RestApp
from serving.defaults import (
    DEFAULT_BATCH_TIMEOUT_MS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_INSTANCES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_NUM_BATCH_THREADS,
    DEFAULT_PORT,
)
from serving.manager import ModelManager
from serving.servable import DEFAULT_IMAGE_INPUT_PATTERN, LoadedVersion

logger = logging.getLogger(__name__)

# waitress warns "Task queue depth is N" on every request that finds no idle thread: under load
# that is thousands of lines a minute (8,186 in two 20 s runs at 32 clients).
QUEUE_LOGGER = "waitress.queue"
QUEUE_SUMMARY_SECONDS = 30.0


class QueueDepthSummary(logging.Filter):
    """Lets one queue-depth warning through per interval, carrying the count and the peak."""

    def __init__(self, interval_s: float = QUEUE_SUMMARY_SECONDS, clock=time.monotonic):
        super().__init__()
        self.interval_s, self._clock = interval_s, clock
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._suppressed = 0
        self._peak = 0

    def filter(self, record: logging.LogRecord) -> bool:
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else 0
        with self._lock:
            self._peak = max(self._peak, int(depth) if isinstance(depth, int) else 0)
            now = self._clock()
            if now - self._last < self.interval_s:
                self._suppressed += 1
                return False
            record.msg = (
                "request queue: %d waiting for a worker thread (peak %d; %d such warnings "
                "suppressed since the last one); consider more --threads"
            )
            record.args = (depth, self._peak, self._suppressed)
            self._last, self._suppressed, self._peak = now, 0, 0
            return True


def _summarise_queue_warnings() -> None:
    queue_logger = logging.getLogger(QUEUE_LOGGER)
    if not any(isinstance(f, QueueDepthSummary) for f in queue_logger.filters):
        queue_logger.addFilter(QueueDepthSummary())


class ModelServer:
    """Serves `<base_path>/<model_name>/` over the TF Serving REST API.

    Args:
      base_path, model_name: where the versions are (`<base>/<model>/<int>/saved_model.pb`).
      host, port: where to listen; port 0 picks a free port (see `port` after `start`).
      poll_seconds: how often new versions are looked for.
      max_batch_size: rows per batched model call; 1 disables batching (direct calls).
      batch_timeout_ms: how long a request waits for others to share its call.
      num_batch_threads: batches in flight at once per signature.
      max_request_bytes: larger bodies get 413.
      max_instances: more rows in one :predict get 400; large requests run in batch-sized chunks.
      max_image_pixels: larger images (by header) get 400.
      num_versions: how many newest versions stay loaded.
      threads: HTTP worker threads (requests waiting in a batch hold one each).
      image_input_pattern: regex; string inputs whose key matches get image header checks.
    """

    def __init__(
        self,
        base_path: str | Path,
        model_name: str,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        poll_seconds: float = 2.0,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        batch_timeout_ms: float = DEFAULT_BATCH_TIMEOUT_MS,
        num_batch_threads: int = DEFAULT_NUM_BATCH_THREADS,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        num_versions: int = 1,
        threads: int = 16,
        image_input_pattern: str = DEFAULT_IMAGE_INPUT_PATTERN,
    ):
        self.host = host
        self.port = port
        self.threads = threads
        self.max_request_bytes = max_request_bytes
        loader = functools.partial(
            LoadedVersion,
            max_batch_size=max_batch_size,
            batch_timeout_s=batch_timeout_ms / 1000.0,
            num_batch_threads=num_batch_threads,
            image_input_pattern=image_input_pattern,
            max_image_pixels=max_image_pixels,
        )
        self.manager = ModelManager(
            base_path,
            model_name,
            poll_seconds=poll_seconds,
            num_versions=num_versions,
            loader=loader,
        )
        self.app = RestApp(
            self.manager, max_request_bytes=max_request_bytes, max_instances=max_instances
        )
        self._socket_map: dict = {}
        self._server = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _create(self) -> None:
        from waitress.server import create_server

        _summarise_queue_warnings()
        self._server = create_server(
            self.app,
            map=self._socket_map,
            host=self.host,
            port=self.port,
            threads=self.threads,
            # Ours answers 413 as JSON up to this; waitress refuses (plain text) beyond it.
            max_request_body_size=2 * self.max_request_bytes + (1 << 20),
            ident="vistflow",
        )
        self.port = self._server.effective_port
        self._stopping.clear()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ModelServer:
        """Load the model, start the watcher and serve in a background thread."""
        self._create()  # bind first: a busy port fails before minutes of model loading
        self.manager.start()
        self._thread = threading.Thread(target=self._serve, name="waitress", daemon=True)
        self._thread.start()
        logger.info("serving %s on %s", self.manager.model_name, self.url)
        return self

    def serve_forever(self) -> None:
        """Load the model, start the watcher and serve until interrupted."""
        self._create()
        self.manager.start()
        logger.info("serving %s on %s", self.manager.model_name, self.url)
        try:
            self._serve()
        except (SystemExit, KeyboardInterrupt):  # Ctrl-C, SIGTERM: a clean stop, as in waitress
            logger.info("stopping")
        finally:
            self.stop()

    def _serve(self) -> None:
        """waitress's loop, until `stop` sets the flag; the sockets are closed by this thread.

        Closing them from another thread leaves this one's select() on closed descriptors (EBADF),
        and handing the close to the loop through waitress's trigger fails if the trigger itself
        can no longer be written (seen once in CI: stop() raised EBADF). A flag checked every
        loop turn needs neither: the trigger only wakes the loop sooner.
        """
        from waitress import wasyncore

        adj = self._server.adj
        try:
            while self._socket_map and not self._stopping.is_set():
                wasyncore.loop(
                    timeout=adj.asyncore_loop_timeout,
                    use_poll=adj.asyncore_use_poll,
                    map=self._socket_map,
                    count=1,
                )
        finally:
            wasyncore.close_all(self._socket_map)

    def stop(self) -> None:
        """Finish in-flight requests, close every connection, unload every version."""
        from waitress import wasyncore

        server, self._server = self._server, None
        if server is not None:
            server.task_dispatcher.shutdown(timeout=10)  # lets running requests complete
            self._stopping.set()
            if self._thread is not None and self._thread.is_alive():
                try:
                    server.pull_trigger()  # wakes the loop now rather than at its next timeout
                except OSError as e:
                    logger.warning(
                        "could not wake the server loop (%s); it stops within %ss",
                        e,
                        server.adj.asyncore_loop_timeout,
                    )
                self._thread.join(10 + server.adj.asyncore_loop_timeout)
            else:
                wasyncore.close_all(self._socket_map)
        self._thread = None
        self.manager.stop()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
