"""BatchingQueue: concurrent requests share calls, get their own rows back, and fail alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from serving.api_errors import InvalidArgument, Unavailable
from serving.batching import BatchingQueue


class Model:
    """Doubles `x`; rejects any batch containing a negative value, like a bad image would."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.batch_sizes: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, inputs):
        x = inputs["x"]
        with self.lock:
            self.batch_sizes.append(len(x))
        time.sleep(self.delay)
        if (x < 0).any():
            raise InvalidArgument("negative input")
        return {"y": x * 2, "n": np.full(len(x), len(x))}


def _submit_concurrently(queue, inputs_list):
    results = [None] * len(inputs_list)
    barrier = threading.Barrier(len(inputs_list))

    def worker(i):
        barrier.wait()
        try:
            results[i] = queue.submit(inputs_list[i])
        except Exception as e:  # noqa: BLE001 - collected for the assertions
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs_list))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


@pytest.mark.parametrize("num_threads", [1, 2])
def test_concurrent_requests_share_calls_and_get_their_own_rows(num_threads):
    model = Model(delay=0.02)
    queue = BatchingQueue(
        model, max_batch_size=8, batch_timeout_s=0.05, num_threads=num_threads, name="t"
    )
    inputs = [{"x": np.arange(i, i + 1 + i % 2, dtype=np.float32)} for i in range(24)]
    results = _submit_concurrently(queue, inputs)
    queue.close()
    for given, got in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(got["y"], given["x"] * 2)
    assert sum(model.batch_sizes) == sum(len(i["x"]) for i in inputs)
    assert max(model.batch_sizes) <= 8
    assert len(model.batch_sizes) < len(inputs) / 2, model.batch_sizes  # real batching happened
    assert queue.calls == len(model.batch_sizes)


def test_a_lone_request_waits_at_most_the_timeout():
    queue = BatchingQueue(Model(), max_batch_size=32, batch_timeout_s=0.05, name="t")
    start = time.monotonic()
    out = queue.submit({"x": np.ones(1, np.float32)})
    elapsed = time.monotonic() - start
    queue.close()
    assert out["y"].tolist() == [2.0]
    assert 0.04 <= elapsed < 1.0


def test_oversized_request_runs_alone_and_unsplit():
    model = Model()
    queue = BatchingQueue(model, max_batch_size=4, batch_timeout_s=0.0, name="t")
    out = queue.submit({"x": np.arange(10, dtype=np.float32)})
    queue.close()
    assert out["y"].shape == (10,) and model.batch_sizes == [10]


def test_incompatible_shapes_are_never_concatenated():
    model = Model(delay=0.01)
    queue = BatchingQueue(model, max_batch_size=16, batch_timeout_s=0.05, name="t")
    inputs = [{"x": np.ones((1, 2 + i % 2), np.float32)} for i in range(8)]
    results = _submit_concurrently(queue, inputs)
    queue.close()
    for given, got in zip(inputs, results, strict=True):
        assert got["y"].shape == given["x"].shape


def test_a_bad_request_fails_alone():
    model = Model(delay=0.01)
    queue = BatchingQueue(model, max_batch_size=16, batch_timeout_s=0.05, name="t")
    inputs = [{"x": np.array([-1.0 if i == 3 else float(i)], np.float32)} for i in range(8)]
    results = _submit_concurrently(queue, inputs)
    queue.close()
    assert isinstance(results[3], InvalidArgument)
    for i, got in enumerate(results):
        if i != 3:
            assert got["y"].tolist() == [2.0 * i]


def test_outputs_without_batch_dimension_fall_back_to_single_calls():
    def model(inputs):
        time.sleep(0.01)
        return {"total": np.array(inputs["x"].sum())}  # a scalar: cannot be split

    queue = BatchingQueue(model, max_batch_size=8, batch_timeout_s=0.05, name="t")
    inputs = [{"x": np.array([float(i)], np.float32)} for i in range(6)]
    results = _submit_concurrently(queue, inputs)
    queue.close()
    assert [float(r["total"]) for r in results] == [float(i) for i in range(6)]


def test_full_queue_and_closed_queue_answer_unavailable():
    gate = threading.Event()

    def model(inputs):
        gate.wait(10)
        return {"y": inputs["x"]}

    queue = BatchingQueue(
        model, max_batch_size=1, batch_timeout_s=0.0, max_enqueued_rows=2, name="t"
    )
    threads = [
        threading.Thread(target=queue.submit, args=({"x": np.ones(1)},), daemon=True)
        for _ in range(3)
    ]
    for t in threads:  # one runs (blocked in the model), two wait: the queue is full
        t.start()
        time.sleep(0.05)
    with pytest.raises(Unavailable, match="queue full"):
        queue.submit({"x": np.ones(1)})
    gate.set()
    for t in threads:
        t.join(5)
    queue.close()
    with pytest.raises(Unavailable, match="unloading"):
        queue.submit({"x": np.ones(1)})


def test_mismatched_batch_sizes_are_rejected():
    queue = BatchingQueue(Model(), max_batch_size=4, batch_timeout_s=0.0, name="t")
    with pytest.raises(InvalidArgument, match="dimension-0"):
        queue.submit({"x": np.ones(2), "z": np.ones(3)})
    queue.close()
