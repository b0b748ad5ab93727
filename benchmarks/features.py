"""Feature-extraction benchmark: the Beam job against the bare backbone and this machine's limit.

All figures come from ONE run on the same generated images and are printed as JSON:
  pipeline_vs_bare_backbone   pipeline images/s ÷ bare batched-predict images/s   (goal >= 0.9)
                              (steady state: runs on N/8 and N images, marginal rate; the
                              whole-run figure with the DirectRunner's fixed costs is reported too)
  backbone_vs_matmul_peak     backbone GFLOP/s ÷ float32 matmul GFLOP/s            (physical limit)
  unique_images_per_extraction                                                   (goal 1.0)
  bytes_per_story             float32 vs float16 storage (gzipped shards on disk, and raw)
  gzip_level_0                the same steady-state/whole-run ratios with stored (level 0) shards
  float16                     the same ratios with float16 storage (--float16), level as above
  layouts                     the story layout this job writes vs each unique photo's features
                              stored once, keyed by photo: disk bytes per story, and the cost of
                              reading (and for photo-keyed, joining) the features at train time

  python -m benchmarks.features [--backbone resnet50] [--images 128] [--reuse 2]

Random weights (no download); FLOPs counted by the TF profiler on the backbone's graph.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("benchmarks.features")


def _make_images(image_dir: Path, n_images: int, seed: int = 0) -> list[str]:
    """n_images deterministic 320x240 JPEG photos (gradients + noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    image_dir.mkdir(parents=True)
    yy, xx = np.mgrid[0:240, 0:320]
    paths = []
    for i in range(n_images):
        base = np.stack(
            [(xx * (i % 7 + 1)) % 256, (yy * (i % 5 + 1)) % 256, (xx + yy + i) % 256], -1
        )
        noise = rng.integers(0, 40, base.shape)
        path = image_dir / f"{i:05d}.jpg"
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def _make_examples(examples_dir: Path, paths: list[str], reuse: float, seed: int = 0) -> Path:
    """5-photo stories over `paths`, each photo in `reuse` stories on average (VIST reuses photos)."""
    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    rng = np.random.default_rng(seed)
    n = len(paths)
    n_stories = max(1, round(n * reuse / 5))
    order = np.concatenate([rng.permutation(n) for _ in range(int(np.ceil(reuse)) + 1)])
    split_dir = examples_dir / "Split-train"
    split_dir.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(split_dir / "data_tfrecord-00000-of-00001.gz"), "GZIP") as w:
        for s in range(n_stories):
            ex = example_pb2.SequenceExample()
            for key, value in (("id", f"story{s:05d}"), ("split", "train"), ("task", "sis")):
                ex.context.feature[key].bytes_list.value.append(value.encode())
            ex.context.feature["album_id"].bytes_list.value.append(b"album")
            lists = ex.feature_lists.feature_list
            for k in range(5):
                image = int(order[s * 5 + k])
                lists["image_uri"].feature.add().bytes_list.value.append(paths[image].encode())
                lists["photo_id"].feature.add().bytes_list.value.append(str(image).encode())
                lists["text"].feature.add().bytes_list.value.append(b"a sentence about the photo")
            w.write(ex.SerializeToString(deterministic=True))
    return examples_dir


def _matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best float32 matmul throughput of this machine (all cores TF uses)."""
    import tensorflow as tf

    a = tf.random.stateless_normal([n, n], seed=[1, 2])
    b = tf.random.stateless_normal([n, n], seed=[3, 4])
    mm = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _backbone_flops_per_image(model, size: int) -> float:
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    fn = tf.function(lambda x: model(x, training=False))
    graph = fn.get_concrete_function(tf.TensorSpec([1, size, size, 3], tf.float32)).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(model_analyzer.profile(graph, options=options).total_float_ops)


def _bare_backbone(backbone_dir: str, images: np.ndarray, batch_size: int, rounds: int = 2):
    """Images/s of the saved backbone on pre-decoded images, in the extractor's fixed batches."""
    from components.feature_extractor.inference import LoadedBackbone

    model = LoadedBackbone(backbone_dir, batch_size)
    n = len(images)
    padded = np.zeros((-(-n // batch_size) * batch_size, *images.shape[1:]), np.float32)
    padded[:n] = images
    model(padded[:batch_size])  # trace + warm up
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for start in range(0, n, batch_size):
            model(padded[start : start + batch_size])
        best = min(best, time.perf_counter() - t)
    # keras' own batched predict on the same data, for reference.
    t = time.perf_counter()
    model.model.predict(images, batch_size=batch_size, verbose=0)
    keras_predict = n / (time.perf_counter() - t)
    return n / best, keras_predict, model.model


def _story_layout_read(out: Path, spec) -> float:
    """Stories/s of the trainer's read of the story layout: gunzip + parse every shard."""
    import tensorflow as tf

    from vistflow.feature_parsing import parse_feature_example

    files = sorted(str(p) for p in out.glob("Split-*/*.gz"))
    t = time.perf_counter()
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    n = sum(1 for _ in ds.map(lambda r: parse_feature_example(r, spec)))
    return n / (time.perf_counter() - t)


def _photo_keyed_layout(out: Path, examples: Path, spec, level: int) -> dict:
    """The alternative layout, measured on the same features: each unique photo's features once.

    Writes one gzipped record per unique photo (uri, global, local) from the story shards, then
    times what the trainer would do: load the photo table, and per story (from the ingest
    examples, which carry the uris) look up and gather its five photos' features.
    """
    import tensorflow as tf

    from vistflow.feature_parsing import parse_feature_example

    table: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for shard in sorted(out.glob("Split-*/*.gz")):
        for record in tf.data.TFRecordDataset(str(shard), compression_type="GZIP"):
            ex = parse_feature_example(record, spec)
            for uri, g, loc in zip(
                ex["image_uri"].numpy(),
                ex["global_features"].numpy(),
                ex["local_features"].numpy(),
                strict=True,
            ):
                table[bytes(uri)] = (g, loc)
    path = out / "photos.tfrecord.gz"
    options = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=level)
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for uri, (g, loc) in sorted(table.items()):
            ex = tf.train.Example()
            ex.features.feature["uri"].bytes_list.value.append(uri)
            ex.features.feature["global"].float_list.value.extend(g)
            ex.features.feature["local"].float_list.value.extend(loc.reshape(-1))
            writer.write(ex.SerializeToString())
    disk = path.stat().st_size

    stories = tf.data.TFRecordDataset(
        sorted(str(p) for p in examples.glob("Split-*/*.gz")), compression_type="GZIP"
    )
    t = time.perf_counter()
    uris, globals_, locals_ = [], [], []
    desc = {
        "uri": tf.io.FixedLenFeature([], tf.string),
        "global": tf.io.FixedLenFeature([spec.global_dim], tf.float32),
        "local": tf.io.FixedLenFeature([spec.local_dim], tf.float32),
    }
    for photo in tf.data.TFRecordDataset(str(path), compression_type="GZIP").map(
        lambda r: tf.io.parse_single_example(r, desc)
    ):
        uris.append(photo["uri"].numpy())
        globals_.append(photo["global"].numpy())
        locals_.append(photo["local"].numpy())
    g_table, l_table = tf.constant(np.stack(globals_)), tf.constant(np.stack(locals_))
    index = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(uris), tf.range(len(uris), dtype=tf.int64)),
        default_value=-1,
    )
    seq = {"image_uri": tf.io.FixedLenSequenceFeature([], tf.string)}

    def join(record):
        _, lists = tf.io.parse_single_sequence_example(record, sequence_features=seq)
        rows = index.lookup(lists["image_uri"])
        local = tf.reshape(tf.gather(l_table, rows), [-1, *spec.local_shape])
        return tf.gather(g_table, rows), local

    n = sum(1 for _ in stories.map(join))
    seconds = time.perf_counter() - t
    return {
        "disk_bytes": disk,
        "read_and_join_stories_per_s": round(n / seconds, 1),
        "table_bytes_in_memory": int(g_table.numpy().nbytes + l_table.numpy().nbytes),
        "stories": n,
    }


def run(args: argparse.Namespace) -> dict:
    import tensorflow as tf

    from components.feature_extractor.options import ExtractionConfig
    from components.feature_extractor.pipeline import BACKBONE_DIR, extract_features
    from vistflow import backbones

    spec = backbones.get_spec(args.backbone)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vistflow-bench-features-"))
    shutil.rmtree(work, ignore_errors=True)
    paths = _make_images(work / "inputs" / "images", args.images)
    # The small run: its time is the job's fixed cost plus N/8 images, so the difference to the
    # full run is 7/8 of the images (a larger difference than N/2 is less noisy on a busy box).
    small = max(16, args.images // 8)
    examples_small = _make_examples(work / "inputs" / "examples_small", paths[:small], args.reuse)
    examples = _make_examples(work / "inputs" / "examples", paths, args.reuse)
    image_paths = [Path(p) for p in paths]

    results: dict = {
        "backbone": spec.name,
        "weights": "random(seed=0)",
        "input_size": spec.input_size,
        "images": args.images,
        "batch_size": args.batch_size,
        "tf_threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "cpus": os.cpu_count(),
        },
    }

    def extract(
        examples_dir: Path, out: str, level: int = args.compression_level, dtype: str = "float32"
    ):
        cfg = ExtractionConfig(
            args.backbone, batch_size=args.batch_size, compression_level=level, dtype=dtype
        )
        t = time.perf_counter()
        meta = extract_features(str(examples_dir), out, cfg, beam_args=["--runner=DirectRunner"])
        return meta, time.perf_counter() - t

    # The launcher builds + saves the backbone before the Beam job starts; time that separately
    # so the pipeline rate is the job's own (reading, decoding, inference, join, writing).
    t = time.perf_counter()
    model = backbones.build_backbone(args.backbone, seed=0)
    backbones.save_backbone(model, spec, "random(seed=0)", str(work / "bb"))
    build_save_s = time.perf_counter() - t

    peak_before = _matmul_gflops()
    decode = tf.function(
        lambda b: backbones.decode_image(b, spec.input_size),
        input_signature=[tf.TensorSpec([], tf.string)],
    )
    decoded = np.stack([decode(p.read_bytes()).numpy() for p in image_paths])
    # Bare backbone before and after the jobs; the best of the two (same rule as the jobs).
    bare_before, _, _ = _bare_backbone(str(work / "bb"), decoded, args.batch_size)

    def timed(name: str, **overrides) -> dict:
        """--repeats pairs (N/8 images, N images) of one job variant, into `<name>_small<r>` and
        `<name>_<r>`; best of the repeats (alternating sizes): on a shared machine the
        least-disturbed run is the one that measures the job rather than its neighbours."""
        smalls, fulls = [], []
        for r in range(args.repeats):
            meta_small, t_small = extract(
                examples_small, str(work / f"{name}_small{r}"), **overrides
            )
            meta, t_full = extract(examples, str(work / f"{name}_{r}"), **overrides)
            smalls.append(t_small)
            fulls.append(t_full)
        return {"meta_small": meta_small, "meta": meta, "smalls": smalls, "fulls": fulls}

    f32 = timed("f32")
    gz0 = timed("gz0", level=0)  # stored (level 0) shards: what the gzip costs, side by side
    f16 = timed("f16", dtype="float16")  # --float16: half the bytes to serialize, gzip, write
    bare_after, keras_predict, model = _bare_backbone(
        str(work / "f32_0" / BACKBONE_DIR), decoded, args.batch_size
    )
    bare = max(bare_before, bare_after)
    flops = _backbone_flops_per_image(model, spec.input_size)
    # Best of two: the machine's limit is what it reaches when nobody else is using it.
    peak = max(peak_before, _matmul_gflops())

    meta32, meta_small = f32["meta"], f32["meta_small"]
    total_small, total32 = min(f32["smalls"]), min(f32["fulls"])
    unique = meta32["images"]["unique"]
    pipeline_s = total32 - build_save_s
    stories = sum(s["examples_written"] for s in meta32["splits"].values())

    def rates(runs: dict) -> tuple[float, float]:
        """(steady-state, whole-run) images/s. Steady state: the extra images of the full run
        over the extra time. Fixed costs (Beam stage setup, loading the network in the worker,
        tracing) cancel out; they vanish on a real 200k-image run but dominate a few hundred
        images on the DirectRunner."""
        extra = unique - runs["meta_small"]["images"]["unique"]
        marginal = extra / (min(runs["fulls"]) - min(runs["smalls"]))
        return marginal, unique / (min(runs["fulls"]) - build_save_s)

    def ratios(runs: dict) -> dict:
        marginal, whole = rates(runs)
        return {
            "pipeline_vs_bare_backbone": round(marginal / bare, 3),
            "pipeline_vs_bare_backbone_whole_run": round(whole / bare, 3),
            "pipeline_seconds_all_runs": {
                size: [round(t - build_save_s, 2) for t in runs[size + "s"]]
                for size in ("small", "full")
            },
        }

    marginal_rate, whole_run_rate = rates(f32)
    ratios32 = ratios(f32)
    story_read = _story_layout_read(work / "f32_0", spec)
    photo_keyed = _photo_keyed_layout(work / "f32_0", examples, spec, args.compression_level)

    def disk_bytes(out: Path) -> int:
        return sum(p.stat().st_size for p in out.glob("Split-*/*.gz"))

    results.update(
        {
            "stories": stories,
            "image_references": meta32["images"]["references"],
            "pipeline_seconds": round(pipeline_s, 2),
            "pipeline_seconds_small_run": round(total_small - build_save_s, 2),
            "small_run_images": meta_small["images"]["unique"],
            "pipeline_seconds_all_runs": ratios32["pipeline_seconds_all_runs"],
            "backbone_build_and_save_seconds": round(build_save_s, 2),
            "pipeline_images_per_s": round(marginal_rate, 2),
            "pipeline_images_per_s_whole_run": round(whole_run_rate, 2),
            "end_to_end_images_per_s": round(unique / total32, 2),
            "bare_backbone_images_per_s": round(bare, 2),
            "bare_backbone_before_after": [round(bare_before, 2), round(bare_after, 2)],
            "keras_predict_images_per_s": round(keras_predict, 2),
            "pipeline_vs_bare_backbone": ratios32["pipeline_vs_bare_backbone"],
            "pipeline_vs_bare_backbone_whole_run": ratios32["pipeline_vs_bare_backbone_whole_run"],
            "backbone_gflop_per_image": round(flops / 1e9, 3),
            "backbone_gflop_per_s": round(flops * bare / 1e9, 2),
            "matmul_gflop_per_s": round(peak, 2),
            "backbone_vs_matmul_peak": round(flops * bare / 1e9 / peak, 3),
            "unique_images_per_extraction": meta32["unique_images_per_extraction"],
            "model_executions": meta32["images"]["model_executions"],
            "bytes_per_story": {
                "float32": round(disk_bytes(work / "f32_0") / stories),
                "float16": round(disk_bytes(work / "f16_0") / stories),
                "float32_uncompressed": round(meta32["splits"]["train"]["bytes"] / stories),
                "float16_uncompressed": round(f16["meta"]["splits"]["train"]["bytes"] / stories),
            },
            "gzip_level": args.compression_level,
            "gzip_level_0": {
                **ratios(gz0),
                "bytes_per_story": round(disk_bytes(work / "gz0_0") / stories),
            },
            "float16": ratios(f16),
            "layouts": {
                "chosen": "story",
                "story": {
                    "bytes_per_story": round(disk_bytes(work / "f32_0") / stories),
                    "read_stories_per_s": round(story_read, 1),
                },
                "photo_keyed": {
                    "bytes_per_story": round(photo_keyed["disk_bytes"] / stories),
                    "read_and_join_stories_per_s": photo_keyed["read_and_join_stories_per_s"],
                    "table_bytes_in_memory": photo_keyed["table_bytes_in_memory"],
                },
            },
        }
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--images", type=int, default=128, help="unique images (default 128)")
    parser.add_argument(
        "--reuse", type=float, default=2.0, help="mean stories per photo (default 2, VIST-like)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs per size; best is kept")
    parser.add_argument("--compression-level", type=int, default=1, help="gzip level of shards")
    parser.add_argument("--workdir", default=None, help="scratch dir (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run(args)))  # one line: `python -m benchmarks` reads the last stdout line
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
