"""Loads the newest versions of one model and swaps them in while serving, like TF Serving.

A watcher thread polls `<base>/<model>/` every `poll_seconds`. Version policy "latest N": the
newest `num_versions` loadable versions are served. A new version is loaded and warmed up
while the old one keeps serving; the swap is one dict update under a lock; the old version is
then retired and closes only when its last in-flight request has finished. A version that
fails to load is reported (state END with the error) and retried only if its files change;
the versions already loaded keep serving (availability first).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from serving.api_errors import NotFound
from serving.compat import tf_serving_problems
from serving.layout import list_versions, version_dir
from serving.servable import LoadedVersion
from vistflow import uri

logger = logging.getLogger(__name__)


@dataclass
class VersionState:
    """A version's state as TF Serving's GetModelStatus reports it."""

    state: str  # START | LOADING | AVAILABLE | UNLOADING | END
    error_code: str = "OK"
    error_message: str = ""


def _fingerprint(path: Path | str) -> tuple:
    stats = []
    for name in ("saved_model.pb", "saved_model.pbtxt", "variables/variables.index"):
        try:
            stats.append((name, *uri.stat(uri.join(path, name))))
        except OSError:
            pass
    return tuple(stats)


class ModelManager:
    """Serves the latest `num_versions` versions of `<base_path>/<model_name>/`.

    Args:
      base_path: the model base path (the parent of `<model_name>/`).
      model_name: the model's name, which is also its directory.
      poll_seconds: how often the watcher looks for new versions.
      num_versions: how many of the newest versions stay loaded (addressable by version).
      loader: builds a LoadedVersion from (model_name, version, path, on_closed); tests and
        the server pass `functools.partial(LoadedVersion, max_batch_size=..., ...)`.
    """

    def __init__(
        self,
        base_path: str | Path,
        model_name: str,
        *,
        poll_seconds: float = 2.0,
        num_versions: int = 1,
        loader: Callable[..., LoadedVersion] = LoadedVersion,
    ):
        if num_versions < 1:
            raise ValueError(f"num_versions must be >= 1, got {num_versions}")
        self.base_path = uri.as_path(base_path)  # a bucket URI is polled through tf.io.gfile
        self.model_name = model_name
        self.model_dir = uri.join(self.base_path, model_name)
        self.poll_seconds = poll_seconds
        self.num_versions = num_versions
        self._loader = loader
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._loaded: dict[int, LoadedVersion] = {}
        self._states: dict[int, VersionState] = {}
        self._failed: dict[int, tuple] = {}  # version -> fingerprint of the failed attempt
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._warned_empty = False

    # --- watching -------------------------------------------------------------------------

    def start(self) -> None:
        """Load what is on disk now, then keep watching in a background thread."""
        self.poll_once()
        self._watcher = threading.Thread(
            target=self._watch, name=f"watch-{self.model_name}", daemon=True
        )
        self._watcher.start()

    def stop(self) -> None:
        """Stop watching and retire every loaded version (in-flight requests finish)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        with self._lock:
            retired = list(self._loaded.values())
            self._loaded.clear()
        for loaded in retired:
            self._set_state(loaded.version, "UNLOADING")
            loaded.retire()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - the watcher must survive a bad poll
                logger.exception("%s: polling %s failed", self.model_name, self.model_dir)

    def _set_state(self, version: int, state: str, code: str = "OK", message: str = "") -> None:
        with self._lock:
            self._states[version] = VersionState(state, code, message)

    def _on_closed(self, loaded: LoadedVersion) -> None:
        self._set_state(loaded.version, "END")

    def poll_once(self) -> None:
        """One look at the base path: load new versions, swap, retire old ones."""
        with self._poll_lock:
            self._poll()

    def _poll(self) -> None:
        on_disk = list_versions(self.model_dir)
        if not on_disk and not self._warned_empty:
            logger.warning(
                "%s: no versions found under %s (waiting for integer version directories)",
                self.model_name,
                self.model_dir,
            )
        self._warned_empty = not on_disk
        # Forget failures whose files changed since (e.g. a version re-copied in place).
        for v in list(self._failed):
            if v not in on_disk or _fingerprint(version_dir(self.model_dir, v)) != self._failed[v]:
                del self._failed[v]
        while True:
            candidates = [v for v in on_disk if v not in self._failed]
            desired = candidates[-self.num_versions :]
            with self._lock:
                missing = [v for v in desired if v not in self._loaded]
            if not missing:
                break
            self._load(missing[-1])  # newest first: it is the one requests will want
        with self._lock:
            if not any(v in self._loaded for v in desired):
                return  # nothing newer is servable: keep serving what we have
            retired = [self._loaded.pop(v) for v in sorted(self._loaded) if v not in desired]
            for loaded in retired:
                self._states[loaded.version] = VersionState("UNLOADING")
        for loaded in retired:
            logger.info("%s: retiring version %d", self.model_name, loaded.version)
            loaded.retire()

    def _load(self, version: int) -> None:
        path = version_dir(self.model_dir, version)
        fingerprint = _fingerprint(path)
        self._set_state(version, "LOADING")
        logger.info("%s: loading version %d from %s", self.model_name, version, path)
        loaded = None
        try:
            loaded = self._loader(self.model_name, version, path, on_closed=self._on_closed)
            loaded.warmup()
        except Exception as e:  # noqa: BLE001 - a bad version must not stop the server
            if loaded is not None:
                loaded.retire()  # stop its batcher threads
            logger.exception("%s: version %d failed to load", self.model_name, version)
            self._failed[version] = fingerprint
            self._set_state(version, "END", "UNKNOWN", f"failed to load {path}: {e}")
            return
        for problem in tf_serving_problems(path):
            # Ours can serve it, but the same export must also run in tensorflow_model_server.
            logger.warning(
                "%s: version %d is not TF-Serving-compatible: %s", self.model_name, version, problem
            )
        with self._lock:
            self._loaded[version] = loaded
            self._states[version] = VersionState("AVAILABLE")
        logger.info("%s: version %d is AVAILABLE", self.model_name, version)

    # --- serving --------------------------------------------------------------------------

    @contextlib.contextmanager
    def acquire(self, version: int | None = None) -> Iterator[LoadedVersion]:
        """The requested (default: latest) loaded version, held for the request's duration."""
        with self._lock:
            if version is None:
                if not self._loaded:
                    raise NotFound(f"Servable not found for request: Latest({self.model_name})")
                loaded = self._loaded[max(self._loaded)]
            else:
                loaded = self._loaded.get(version)
                if loaded is None:
                    raise NotFound(
                        f"Servable not found for request: Specific({self.model_name}, {version})"
                    )
            # Under the manager lock: a version cannot be retired between lookup and acquire.
            loaded.acquire()
        try:
            yield loaded
        finally:
            loaded.release()

    def loaded_versions(self) -> list[int]:
        with self._lock:
            return sorted(self._loaded)

    def loaded(self) -> list[LoadedVersion]:
        """The loaded versions (for monitoring; use `acquire` to run one)."""
        with self._lock:
            return [self._loaded[v] for v in sorted(self._loaded)]

    def status(self, version: int | None = None) -> list[tuple[int, VersionState]]:
        """(version, state) pairs, newest first; raises NotFound like TF Serving."""
        with self._lock:
            if version is not None:
                if version not in self._states:
                    raise NotFound(f"Could not find version {version} of model {self.model_name}")
                return [(version, self._states[version])]
            if not self._states:
                raise NotFound(f"Could not find any versions of model {self.model_name}")
            return sorted(self._states.items(), reverse=True)
