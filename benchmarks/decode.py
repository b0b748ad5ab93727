"""Decoding benchmark: in-graph batched beam search against a per-image Python-loop decoder.

Both decode the SAME model on the SAME features with the same algorithm and settings:
  in_graph      trainer.decoding.decode inside one tf.function: a tf.while_loop over time for a
                whole batch of images (what the exported SavedModel runs)
  python_loop   trainer.decoding.python_beam_search: one image at a time, a Python loop over
                time calling the model's step as a compiled tf.function once per step on the k
                beams (im2txt's caption_generator design, tensorflow/models#689)
  speedup       in_graph captions/s / python_loop captions/s                  (goal >= 10)
  same_captions fraction of images whose two captions are identical (~1.0: a batched matmul
                sums in another order than a 3-row one, which can swap near-tied beams)

  python -m benchmarks.decode [--models show_tell,show_attend_tell] [--images 64] [--batch 64]

One entry per model: show_tell (the per-step work is matrix products, which batching turns from
memory-bound mat-vecs into mat-mats) and show_attend_tell (each step also scans every beam's
14x14 attention grid, memory-bound either way, so batching gains less).

Random weights and features (no download); the paper sizes by default (hidden/embedding/attention
512, a 10k vocabulary, VGG16 conv5 14x14x512 grid and 4096-d fc7). An untrained model rarely
emits END, so most captions run to --max-length: the measured work is the worst case.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import time

import numpy as np

logger = logging.getLogger("benchmarks.decode")


def _parse(argv: list[str] | None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="show_tell,show_attend_tell", help="comma-separated")
    p.add_argument("--images", type=int, default=64, help="images decoded by each decoder")
    p.add_argument("--batch", type=int, default=64, help="in-graph batch size")
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--max-length", type=int, default=16)
    p.add_argument("--vocab", type=int, default=10_000)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--grid", type=int, default=14, help="local grid side (VGG16 conv5: 14)")
    p.add_argument("--channels", type=int, default=512)
    p.add_argument("--global-dim", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def run(argv: list[str] | None = None) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parse(argv)
    results = {name: _run_model(name, args) for name in args.models.split(",")}
    return {
        "speedup": {name: r["speedup"] for name, r in results.items()},
        "goal": ">= 10x",
        "models": results,
    }


def _run_model(model_name: str, args) -> dict:
    import keras
    import tensorflow as tf

    from trainer import decoding
    from trainer.data import GLOBAL, LOCAL, FeatureInfo
    from trainer.hparams import DecodingConfig, HParams
    from trainer.models.registry import build_model

    keras.utils.set_random_seed(args.seed)
    info = FeatureInfo(
        global_dim=args.global_dim,
        local_shape=(args.grid, args.grid, args.channels),
        backbone="random",
        task="dii",
        has_image_bytes=False,
    )
    hp = HParams(
        model=model_name,
        hidden_dim=args.hidden,
        embedding_dim=args.hidden,
        attention_dim=args.hidden,
    ).resolved("dii")
    model = build_model(hp, args.vocab, info)
    if model.sequence_model:
        raise SystemExit(
            f"{model_name}: benchmark a per-image model (sequence models decode stories)"
        )
    cfg = DecodingConfig(method="beam", beam_size=args.beam, max_length=args.max_length)
    attention = info.local_positions if model.spatial_attention else 0
    rng = np.random.default_rng(args.seed)
    feats = {
        GLOBAL: np.maximum(rng.normal(size=(args.images, info.global_dim)), 0).astype(np.float32),
        LOCAL: np.maximum(
            rng.normal(size=(args.images, info.local_positions, args.channels)), 0
        ).astype(np.float32),
    }
    feats = {
        k: v
        for k, v in feats.items()
        if k == LOCAL and model.uses_local or k == GLOBAL and model.uses_global
    }

    @tf.function(reduce_retracing=True)
    def in_graph(batch):
        context, state = model.encode(batch)
        return decoding.decode(
            model.step, context, state, cfg, vocab_size=args.vocab, attention_size=attention
        )

    def batches():
        for start in range(0, args.images, args.batch):
            yield {k: tf.constant(v[start : start + args.batch]) for k, v in feats.items()}

    t0 = time.perf_counter()
    in_graph(next(batches()))  # trace + first run
    trace_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph_tokens = [in_graph(b)["tokens"].numpy() for b in batches()]
    graph_s = time.perf_counter() - t0
    graph_tokens = np.concatenate(graph_tokens)

    encode = tf.function(model.encode, reduce_retracing=True)
    step = tf.function(lambda tokens, context, state: model.step(tokens, context, state))
    first = {k: tf.constant(v[:1]) for k, v in feats.items()}
    decoding.python_beam_search(step, *encode(first), cfg, vocab_size=args.vocab)  # trace
    t0 = time.perf_counter()
    same = 0
    lengths = []
    for i in range(args.images):
        one = {k: tf.constant(v[i : i + 1]) for k, v in feats.items()}
        context, state = encode(one)
        tokens, _ = decoding.python_beam_search(step, context, state, cfg, vocab_size=args.vocab)
        same += int(tokens == graph_tokens[i].tolist())
        lengths.append(int(np.sum(np.asarray(tokens) != 0)))
    python_s = time.perf_counter() - t0

    in_graph_rate = args.images / graph_s
    python_rate = args.images / python_s
    return {
        "config": {
            **{k: v for k, v in vars(args).items() if k != "models"},
            "decoding": dataclasses.asdict(cfg),
            "threads": {
                "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "cpus": os.cpu_count(),
            },
        },
        "in_graph": {
            "captions_per_s": round(in_graph_rate, 2),
            "seconds": round(graph_s, 3),
            "trace_seconds": round(trace_s, 2),
        },
        "python_loop": {"captions_per_s": round(python_rate, 2), "seconds": round(python_s, 3)},
        "speedup": round(in_graph_rate / python_rate, 2),
        "same_captions": round(same / args.images, 3),
        "mean_tokens_per_caption": round(float(np.mean(lengths)), 2),
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
