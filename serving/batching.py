"""Server-side request batching: concurrent requests share one model call.

One `BatchingQueue` per (model version, signature), like TF Serving's `--enable_batching`: a
worker thread (of `num_threads`) takes the oldest request, waits until `max_batch_size` rows are queued or
`batch_timeout_s` has passed since that request arrived, concatenates the compatible requests
along dimension 0, runs the model once and splits every output back by row counts. While one
batch runs the next one fills, so under load the timeout rarely adds latency.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from serving.api_errors import InvalidArgument, Unavailable

logger = logging.getLogger(__name__)

Tensors = dict[str, np.ndarray]


class _Task:
    __slots__ = ("inputs", "rows", "key", "future", "enqueued")

    def __init__(self, inputs: Tensors, rows: int):
        self.inputs = inputs
        self.rows = rows
        # Requests can share a call only if every input matches beyond dimension 0.
        self.key = tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in inputs.items()))
        self.future: Future = Future()
        self.enqueued = time.monotonic()


def batch_rows(inputs: Tensors) -> int | None:
    """The shared dimension-0 size of `inputs`, or None if they cannot be batched."""
    sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()


class BatchingQueue:
    """Collects concurrent `submit()` calls into batched calls of `run`.

    Args:
      run: the model call, `dict[name, array] -> dict[name, array]`; every output must keep
        dimension 0 equal to the inputs' (checked; otherwise requests run one by one).
      max_batch_size: most rows in one call (a single larger request runs alone, unsplit).
      batch_timeout_s: how long the oldest request waits for company.
      max_enqueued_rows: above this many waiting rows `submit` fails fast with Unavailable.
      num_threads: batches run concurrently (TF Serving's num_batch_threads): while one batch
        is in the model, the next is formed and can start.
      name: for logs and the worker thread's name.
    """

    def __init__(
        self,
        run: Callable[[Tensors], Tensors],
        *,
        max_batch_size: int,
        batch_timeout_s: float,
        max_enqueued_rows: int | None = None,
        num_threads: int = 1,
        name: str = "batcher",
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self._run = run
        self.max_batch_size = max_batch_size
        self.batch_timeout_s = max(0.0, batch_timeout_s)
        self.max_enqueued_rows = max_enqueued_rows or max_batch_size * 128
        self.name = name
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self._stats_lock = threading.Lock()
        self.calls = 0  # model calls made (for tests and monitoring)
        self.rows = 0  # rows passed to those calls: rows / calls = mean batch size
        self._workers = [
            threading.Thread(target=self._loop, name=f"batch-{name}-{i}", daemon=True)
            for i in range(max(1, num_threads))
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, inputs: Tensors) -> Tensors:
        """Run `inputs` as part of a batch; blocks until its own outputs are ready."""
        rows = batch_rows(inputs)
        if rows is None:
            raise InvalidArgument(
                "inputs do not share a dimension-0 batch size: "
                + ", ".join(f"{n}{list(a.shape)}" for n, a in sorted(inputs.items()))
            )
        task = _Task(inputs, rows)
        with self._cond:
            if self._closed:
                raise Unavailable(f"{self.name}: this model version is unloading; retry")
            if self._queued_rows + rows > self.max_enqueued_rows and self._queue:
                raise Unavailable(
                    f"{self.name}: batch queue full ({self._queued_rows} rows waiting); retry"
                )
            self._queue.append(task)
            self._queued_rows += rows
            self._cond.notify()
        return task.future.result()

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish the queued requests, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(timeout)

    def _take_batch(self) -> list[_Task] | None:
        with self._cond:
            while True:
                while not self._queue:
                    if self._closed:
                        return None
                    self._cond.wait()
                first = self._queue[0]
                deadline = first.enqueued + self.batch_timeout_s
                while not self._closed and self._queue and self._queue[0] is first:
                    ready = sum(t.rows for t in self._queue if t.key == first.key)
                    remaining = deadline - time.monotonic()
                    if ready >= self.max_batch_size or remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if not self._queue or self._queue[0] is not first:
                    continue  # another worker took it while we waited
                batch, rows, keep = [], 0, collections.deque()
                while self._queue:
                    task = self._queue.popleft()
                    fits = not batch or rows + task.rows <= self.max_batch_size
                    if task.key == first.key and fits:
                        batch.append(task)
                        rows += task.rows
                    else:
                        keep.append(task)
                self._queue = keep
                self._queued_rows -= rows
                if self._queue:
                    self._cond.notify()  # leftovers: let another worker start on them
                return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            try:
                self._execute(batch)
            except BaseException as e:  # noqa: BLE001 - never leave a request waiting forever
                logger.exception("%s: batch failed unexpectedly", self.name)
                for task in batch:
                    if not task.future.done():
                        task.future.set_exception(e)

    def _call(self, inputs: Tensors) -> Tensors:
        with self._stats_lock:
            self.calls += 1
            self.rows += batch_rows(inputs) or 0
        return self._run(inputs)

    def _execute(self, batch: list[_Task]) -> None:
        if len(batch) == 1:
            self._execute_alone(batch[0])
            return
        total = sum(t.rows for t in batch)
        names = batch[0].inputs.keys()
        merged = {n: np.concatenate([t.inputs[n] for t in batch]) for n in names}
        try:
            outputs = self._call(merged)
        except InvalidArgument:
            # One request's bad data (e.g. an image that only fails to decode) must not fail
            # the others sharing its batch: rerun them one by one to isolate it.
            for task in batch:
                self._execute_alone(task)
            return
        except BaseException as e:  # noqa: BLE001 - handed to every waiting request
            for task in batch:
                task.future.set_exception(e)
            return
        bad = [n for n, a in outputs.items() if np.ndim(a) == 0 or np.shape(a)[0] != total]
        if bad:
            logger.warning(
                "%s: outputs %s do not keep the batch dimension; running requests one by one",
                self.name,
                bad,
            )
            for task in batch:
                self._execute_alone(task)
            return
        start = 0
        for task in batch:
            end = start + task.rows
            task.future.set_result({n: a[start:end] for n, a in outputs.items()})
            start = end

    def _execute_alone(self, task: _Task) -> None:
        try:
            task.future.set_result(self._call(task.inputs))
        except BaseException as e:  # noqa: BLE001 - handed to the waiting request
            task.future.set_exception(e)
