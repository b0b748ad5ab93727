"""Tiny ingest-style inputs (SequenceExamples + PIL images) for the feature-extractor tests."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

# A photo shared by three stories (VIST reuses photos), one story per split for val/test,
# grayscale / RGBA / palette / 16-bit / WebP images (WebP goes through the PIL fallback).
PHOTOS = {
    "p0": "rgb",
    "p1": "gray",
    "p2": "rgba",
    "p3": "palette",
    "p4": "png16",
    "p5": "webp",
    "p6": "rgb",
    "p7": "rgb",
    "shared": "rgb",
}
STORIES = [
    ("train", "s1", ["p0", "shared", "p1", "p2", "p3"]),
    ("train", "s2", ["shared", "p4", "p5", "p6", "p7"]),
    ("train", "s3", ["p7", "p6", "shared", "p0", "p1"]),
    ("val", "s4", ["p2", "p3", "p4", "p5", "p6"]),
    ("test", "s5", ["p0", "p1", "p2", "p3", "p4"]),
]

# The shared reference run (conftest.fx_reference); other runs must reproduce its bytes.
REFERENCE_CONFIG = {"backbone": "tiny", "seed": 0, "num_shards": 2}


def _crc32c(data: bytes) -> int:
    import crcmod.predefined

    return crcmod.predefined.mkCrcFun("crc-32c")(data)


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def write_tfrecord_gz(path: Path, records: list[bytes]) -> None:
    """TFRecord framing written without TensorFlow, so fixtures don't pay its import."""
    with gzip.open(path, "wb") as f:
        for record in records:
            header = struct.pack("<Q", len(record))
            f.write(header + struct.pack("<I", _masked_crc(header)))
            f.write(record + struct.pack("<I", _masked_crc(record)))


def make_image(path: Path, kind: str, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = 48 + seed % 7 * 5, 40 + seed % 5 * 9  # odd sizes: the resize matters
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack(
        [(xx * (3 + seed)) % 256, (yy * (5 + seed)) % 256, (xx + yy) * 2 % 256], -1
    ) + rng.integers(0, 30, (h, w, 3))
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    if kind == "gray":
        img.convert("L").save(path, "JPEG")
    elif kind == "rgba":
        img.convert("RGBA").save(path, "PNG")
    elif kind == "palette":
        img.convert("P").save(path, "PNG")
    elif kind == "png16":
        Image.fromarray((rgb[..., 0].astype(np.uint16) * 257), "I;16").save(path, "PNG")
    elif kind == "webp":
        img.save(path, "WEBP", lossless=True)
    else:
        img.save(path, "JPEG", quality=92)


def sequence_example(split: str, story_id: str, uris: list[str], photo_ids: list[str]) -> bytes:
    from tensorflow.core.example import example_pb2

    ex = example_pb2.SequenceExample()
    ctx = ex.context.feature
    ctx["id"].bytes_list.value.append(story_id.encode())
    ctx["album_id"].bytes_list.value.append(b"album-" + story_id.encode())
    ctx["split"].bytes_list.value.append(split.encode())
    ctx["task"].bytes_list.value.append(b"sis")
    lists = ex.feature_lists.feature_list
    for i, (uri, pid) in enumerate(zip(uris, photo_ids, strict=True)):
        lists["image_uri"].feature.add().bytes_list.value.append(uri.encode())
        lists["photo_id"].feature.add().bytes_list.value.append(pid.encode())
        lists["text"].feature.add().bytes_list.value.append(f"sentence {i} of {story_id}".encode())
    return ex.SerializeToString(deterministic=True)


def make_dataset(root: Path, stories=STORIES, photos=PHOTOS, extra_images=None) -> Path:
    """Writes images under root/images and Examples under root/examples/Split-*/; returns examples dir."""
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for seed, (pid, kind) in enumerate(sorted(photos.items())):
        ext = {"webp": "webp", "rgba": "png", "palette": "png", "png16": "png"}.get(kind, "jpg")
        paths[pid] = image_dir / f"{pid}.{ext}"
        make_image(paths[pid], kind, seed)
    for pid, data in (extra_images or {}).items():
        paths[pid] = image_dir / f"{pid}.jpg"
        paths[pid].write_bytes(data)
    by_split: dict[str, list[bytes]] = {}
    for split, sid, pids in stories:
        uris = [str(paths[p]) for p in pids]
        by_split.setdefault(split, []).append(sequence_example(split, sid, uris, pids))
    examples = root / "examples"
    for split, records in by_split.items():
        split_dir = examples / f"Split-{split}"
        split_dir.mkdir(parents=True, exist_ok=True)
        write_tfrecord_gz(split_dir / "data_tfrecord-00000-of-00001.gz", records)
    return examples


def read_dir_bytes(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path (for byte-identity checks)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = path.read_bytes()
    return out
