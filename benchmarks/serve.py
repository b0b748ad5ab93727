"""Serving benchmark: batched vs one-at-a-time on the same model, with concurrent clients.

Run: `python -m benchmarks.serve [--seconds 5] [--rounds 3] [--clients 64]`. Prints one JSON
line: p50/p99 latency and throughput per configuration, and the throughput speed-up (goal >= 4);
then, on the batched server, the largest allowed request (--max-instances rows) twice while
one client sends 1-image requests: the server's peak RSS against a stated bound and the small
requests' p99 next to their p99 on an idle server.

The model stands in for a real captioner so the batching gain is honest. Per image it decodes
a 160x120 JPEG, resizes it to 64x64 and runs a 3-layer conv net (32/64/128 filters, stride 2)
to an 8x8 grid of regions; per call it runs a 20-step greedy decoder shaped like the
show-attend-tell captioner (reference 003): soft attention over the regions + an LSTM (hidden
512, embedding 256, vocabulary 5000) in a `tf.while_loop`. Each step streams the LSTM and
output weights (~15 MB) from memory and dispatches ~20 small ops whatever the batch size: that
per-call cost is what server batching amortises; the per-image work (decode, conv) is not.

Each configuration runs in its own `vistflow serve` process, as in production: "batched"
(--max-batch-size 32 --batch-timeout-ms 5) and "one_at_a_time" (--max-batch-size 1: every
request calls the model itself, concurrently, as TF Serving does without --enable_batching).
Both servers run side by side and the load phases alternate between them, so background load
on a shared machine hits both alike. Clients are threads on keep-alive connections; every
request carries one image.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from serving.defaults import DEFAULT_MAX_INSTANCES

# The server's peak RSS serving the largest allowed request must stay under this (the model,
# TF's runtime and one chunk of activations; before the instance limit and chunking, 10,000
# tiny images in one request took the server to 6 GB).
PEAK_RSS_BOUND_MB = 2048

MODEL_DESCRIPTION = (
    "show-attend-tell-sized captioner: decode 160x120 JPEG -> resize 64x64 -> conv3x3 stride 2 "
    "x3 (32/64/128) -> 8x8 grid of 128-d regions -> 20-step greedy LSTM decoder with soft "
    "attention over the 64 regions (hidden 512, embedding 256, vocabulary 5000) in a "
    "tf.while_loop; outputs captions + scores"
)


def export_bench_captioner(
    path: Path, *, vocab_size: int = 5000, hidden: int = 512, embed: int = 256, steps: int = 20
) -> Path:
    """Write the benchmark captioner SavedModel (random fixed weights) to `path`."""
    import tensorflow as tf

    size, channels = 64, 128
    rng = tf.random.Generator.from_seed(0)

    def weight(*shape: int, scale: float = 0.05) -> tf.Variable:
        return tf.Variable(rng.normal(list(shape)) * scale)

    class BenchCaptioner(tf.Module):
        def __init__(self):
            super().__init__()
            shapes = [(3, 32), (32, 64), (64, channels)]
            self.conv = [weight(3, 3, i, o, scale=(2.0 / (9 * i)) ** 0.5) for i, o in shapes]
            self.init_h = weight(channels, hidden)
            self.att_regions = weight(channels, hidden)
            self.att_state = weight(hidden, hidden)
            self.att_score = weight(hidden, 1)
            self.embedding = weight(vocab_size, embed)
            self.lstm_kernel = weight(embed + hidden + channels, 4 * hidden)
            self.lstm_bias = tf.Variable(tf.zeros([4 * hidden]))
            self.out = weight(hidden, vocab_size)
            self.vocab = tf.constant([f"w{i}" for i in range(vocab_size)])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def serve(self, images):
            def load(data):
                pixels = tf.io.decode_image(data, channels=3, expand_animations=False)
                pixels = tf.image.convert_image_dtype(pixels, tf.float32)
                return tf.image.resize(pixels, [size, size])

            x = tf.map_fn(
                load, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32)
            )
            for kernel in self.conv:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
            n = tf.shape(images)[0]
            regions = tf.reshape(x, [n, -1, channels])  # [N, 64, C]
            keys = tf.einsum("nrc,ch->nrh", regions, self.att_regions)
            h = tf.tanh(tf.reduce_mean(regions, axis=1) @ self.init_h)
            c = tf.zeros_like(h)
            token = tf.zeros([n], tf.int32)
            log_prob = tf.zeros([n])
            tokens = tf.TensorArray(tf.int32, size=steps)
            for t in tf.range(steps):
                # Bahdanau attention over the regions, then one LSTM step and a greedy pick.
                energy = tf.tanh(keys + tf.expand_dims(h @ self.att_state, 1)) @ self.att_score
                alpha = tf.nn.softmax(tf.squeeze(energy, -1), axis=-1)
                context = tf.reduce_sum(tf.expand_dims(alpha, -1) * regions, axis=1)
                z = tf.concat([tf.gather(self.embedding, token), h, context], 1) @ self.lstm_kernel
                i, f, g, o = tf.split(z + self.lstm_bias, 4, axis=1)
                c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                h = tf.sigmoid(o) * tf.tanh(c)
                logits = h @ self.out
                token = tf.argmax(logits, axis=-1, output_type=tf.int32)
                log_prob += tf.reduce_max(tf.nn.log_softmax(logits), axis=-1)
                tokens = tokens.write(t, token)
            words = tf.gather(self.vocab, tf.transpose(tokens.stack()))
            captions = tf.strings.reduce_join(words, axis=1, separator=" ")
            return {"captions": captions, "scores": tf.exp(log_prob / steps)}

    module = BenchCaptioner()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def _photo(seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(1, 1, 3))
    noise = rng.integers(-40, 40, size=(120, 160, 3))
    pixels = np.clip(base + noise, 0, 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(
    base: Path, port: int, max_batch_size: int, batch_timeout_ms: float, batch_threads: int
):
    cmd = [
        sys.executable, "-m", "commands", "--log-level", "WARNING", "serve",
        "--model-base-path", str(base), "--model-name", "bench", "--port", str(port),
        "--max-batch-size", str(max_batch_size), "--batch-timeout-ms", str(batch_timeout_ms),
        "--num-batch-threads", str(batch_threads), "--threads", "80",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/models/bench")
            body = json.loads(conn.getresponse().read())
            conn.close()
            if any(s["state"] == "AVAILABLE" for s in body.get("model_version_status", [])):
                return proc
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become AVAILABLE within 180 s")


def _batch_counters(port: int) -> tuple[int, int]:
    """(model calls, rows) from the server's metrics: rows / calls = mean batch size."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/monitoring/prometheus/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    calls = rows = 0
    for line in text.splitlines():
        if line.startswith("vistflow_model_calls_total{"):
            calls += int(line.rsplit(" ", 1)[1])
        elif line.startswith("vistflow_model_rows_total{"):
            rows += int(line.rsplit(" ", 1)[1])
    return calls, rows


def _load(port: int, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """`clients` threads, each on a keep-alive connection, post for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start_gate.wait()
        i = k
        while time.monotonic() < stop_at[0]:
            body = bodies[i % len(bodies)]
            i += clients
            t0 = time.perf_counter()
            try:
                headers = {"Content-Type": "application/json"}
                conn.request("POST", "/v1/models/bench:predict", body, headers)
                resp = conn.getresponse()
                ok = resp.status == 200 and b"predictions" in resp.read()
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            latencies[k].append(time.perf_counter() - t0)
            errors[k] += not ok
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    began = time.monotonic()
    stop_at[0] = began + seconds
    start_gate.wait()
    for t in threads:
        t.join(seconds + 180)
    return {
        "clients": clients,
        "errors": sum(errors),
        "wall_s": time.monotonic() - began,
        "latencies_ms": np.array([x for per in latencies for x in per]) * 1000.0,
    }


def _rss_mb(pid: int) -> dict:
    """Current and peak (high-water mark) resident memory of process `pid`, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


def _post(port: int, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/models/bench:predict", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def _large_request_phase(
    port: int, pid: int, photos: list[bytes], small_bodies: list[bytes], max_instances: int
) -> dict:
    """The largest allowed request, twice in a row, while one client sends 1-image requests.

    Reports the server's peak RSS (VmHWM) before and after, the small requests' latency while
    the large ones run, and that one row over the limit is refused with a 400.
    """
    rows = [
        {"b64": base64.b64encode(photos[i % len(photos)]).decode()} for i in range(max_instances)
    ]
    large = json.dumps({"instances": rows}).encode()
    over = json.dumps({"instances": rows + rows[:1]}).encode()
    before = _rss_mb(pid)
    done = threading.Event()
    large_s: list[float] = []
    statuses: list[int] = []

    def post_large() -> None:
        for _ in range(2):
            t0 = time.perf_counter()
            status, _ = _post(port, large)
            large_s.append(time.perf_counter() - t0)
            statuses.append(status)
        done.set()

    thread = threading.Thread(target=post_large, daemon=True)
    thread.start()
    small_ms = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    i = 0
    while not done.is_set():
        t0 = time.perf_counter()
        conn.request("POST", "/v1/models/bench:predict", small_bodies[i % len(small_bodies)])
        conn.getresponse().read()
        small_ms.append((time.perf_counter() - t0) * 1000.0)
        i += 1
    conn.close()
    thread.join()
    after = _rss_mb(pid)
    over_status, over_body = _post(port, over)
    return {
        "max_instances": max_instances,
        "large_request_bytes": len(large),
        "large_request_statuses": statuses,
        "large_request_s": [round(x, 2) for x in large_s],
        "over_limit_status": over_status,
        "over_limit_error": json.loads(over_body).get("error", "")[:120],
        "server_rss_before_mb": before,
        "server_rss_after_mb": after,
        "small_requests_during_large": len(small_ms),
        "small_p50_ms_during_large": round(float(np.percentile(small_ms, 50)), 1),
        "small_p99_ms_during_large": round(float(np.percentile(small_ms, 99)), 1),
    }


def _pool(phases: list[dict]) -> dict:
    """One summary for the load phases of one configuration."""
    all_ms = np.concatenate([p["latencies_ms"] for p in phases])
    wall = sum(p["wall_s"] for p in phases)
    summary = {
        "clients": phases[0]["clients"],
        "requests": int(all_ms.size),
        "errors": int(sum(p["errors"] for p in phases)),
        "throughput_rps": round(all_ms.size / wall, 1),
        "p50_ms": round(float(np.percentile(all_ms, 50)), 1),
        "p99_ms": round(float(np.percentile(all_ms, 99)), 1),
        "mean_ms": round(float(all_ms.mean()), 1),
    }
    calls = sum(p.get("calls", 0) for p in phases)
    if calls:
        summary["mean_batch_size"] = round(sum(p["rows"] for p in phases) / calls, 1)
    return summary


def _rps(phase: dict) -> float:
    return phase["latencies_ms"].size / phase["wall_s"]


def run(
    seconds: float,
    rounds: int,
    clients: int,
    max_batch_size: int,
    batch_timeout_ms: float,
    batch_threads: int,
) -> dict:
    """Export the model, serve it twice (batched / one at a time), load both alternately."""
    from serving.publish import publish

    configs = {
        "batched": (max_batch_size, batch_timeout_ms, batch_threads),
        "one_at_a_time": (1, 0.0, 1),
    }
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        model = export_bench_captioner(Path(tmp) / "export")
        base = Path(tmp) / "models"
        publish(model, base, "bench")
        photos = [_photo(i) for i in range(64)]
        bodies = [
            json.dumps({"instances": [{"b64": base64.b64encode(p).decode()}]}).encode()
            for p in photos
        ]
        ports = {name: _free_port() for name in configs}
        procs = {}
        single: dict[str, list] = {name: [] for name in configs}
        concurrent: dict[str, list] = {name: [] for name in configs}
        try:
            for name, (batch_size, timeout_ms, threads) in configs.items():
                procs[name] = _start_server(base, ports[name], batch_size, timeout_ms, threads)
            for name in configs:
                _load(ports[name], bodies, clients, 2.0)  # warm-up: connections, graph caches
            for _ in range(rounds):
                for name in configs:
                    single[name].append(_load(ports[name], bodies, 1, min(seconds, 2.0)))
                    calls0, rows0 = _batch_counters(ports[name])
                    phase = _load(ports[name], bodies, clients, seconds)
                    calls1, rows1 = _batch_counters(ports[name])
                    phase["calls"], phase["rows"] = calls1 - calls0, rows1 - rows0
                    concurrent[name].append(phase)
            large = _large_request_phase(
                ports["batched"], procs["batched"].pid, photos, bodies, DEFAULT_MAX_INSTANCES
            )
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    results = {
        name: {
            "max_batch_size": batch_size,
            "batch_timeout_ms": timeout_ms,
            "num_batch_threads": threads if batch_size > 1 else None,
            "single_client": _pool(single[name]),
            "concurrent": _pool(concurrent[name]),
        }
        for name, (batch_size, timeout_ms, threads) in configs.items()
    }
    large["small_p99_ms_idle"] = results["batched"]["single_client"]["p99_ms"]
    large["peak_rss_bound_mb"] = PEAK_RSS_BOUND_MB
    large["peak_rss_within_bound"] = (
        large["server_rss_after_mb"]["peak_rss_mb"] <= PEAK_RSS_BOUND_MB
    )
    batched = results["batched"]["concurrent"]["throughput_rps"]
    unbatched = results["one_at_a_time"]["concurrent"]["throughput_rps"]
    return {
        "benchmark": "serve",
        "model": MODEL_DESCRIPTION,
        "image_bytes_mean": int(np.mean([len(p) for p in photos])),
        "cpu_count": os.cpu_count(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "seconds_per_phase": seconds,
        "rounds": rounds,
        **results,
        "throughput_speedup_per_round": [
            round(_rps(b) / _rps(u), 2)
            for b, u in zip(concurrent["batched"], concurrent["one_at_a_time"], strict=True)
        ],
        "throughput_speedup_batched_vs_one_at_a_time": round(batched / unbatched, 2),
        "throughput_speedup_goal": 4.0,
        "largest_request": large,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of one load phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per config")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-ms", type=float, default=5.0)
    parser.add_argument("--num-batch-threads", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = run(
        args.seconds,
        args.rounds,
        args.clients,
        args.max_batch_size,
        args.batch_timeout_ms,
        args.num_batch_threads,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
