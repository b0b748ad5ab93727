"""Fixtures for the VistExampleGen tests: tiny hand-made VIST roots and one shared ingest run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vistflow.data import writers
from vistflow.records import SPLITS


def image_bytes(mode: str = "RGB", size: tuple[int, int] = (40, 30), fmt: str = "JPEG") -> bytes:
    """A small noisy image (noise so JPEG truncation cuts real scan data)."""
    rng = np.random.RandomState(sum(size) + len(mode))
    rgb = Image.fromarray((rng.rand(size[1], size[0], 3) * 255).astype("uint8"))
    if mode == "I;16":
        grey = np.asarray(rgb.convert("L"), np.uint16) * 257
        img = Image.fromarray(grey.astype("<u2"), "I;16")
    else:
        img = rgb.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def write_vist_root(
    root: Path,
    stories: dict[str, list[tuple[str, str, list[str], list[str]]]],
    images: dict[tuple[str, str], bytes | None],
    *,
    raw_annotations: dict[str, list] | None = None,
) -> Path:
    """Writes sis/{split}.story-in-sequence.json and images/{split}/{photo}.jpg.

    Args:
      stories: split -> [(story_id, album_id, photo_ids, texts)], written in order.
      images: (split, photo_id) -> file bytes (None: no file).
      raw_annotations: split -> extra raw annotation items appended verbatim (malformed ones).
    """
    for split in SPLITS:
        annotations = []
        for story_id, album_id, photos, texts in stories.get(split, []):
            for order, (photo, text) in enumerate(zip(photos, texts, strict=True)):
                annotations.append(writers.sis_annotation(story_id, album_id, photo, order, text))
        path = root / "sis" / f"{split}.story-in-sequence.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        albums = sorted({a["album_id"] for a in annotations})
        doc = {
            "info": {},
            "type": "story_in_sequence",
            "albums": [writers.album_entry(a, 5) for a in albums],
            "images": [],
            "annotations": [[a] for a in annotations]
            + list((raw_annotations or {}).get(split, [])),
        }
        path.write_text(json.dumps(doc))
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
    for (split, photo), data in images.items():
        if data is not None:
            (root / "images" / split / f"{photo}.jpg").write_bytes(data)
    return root


def five(prefix: str) -> list[str]:
    return [f"{prefix}{i}" for i in range(5)]


def texts(story_id: str) -> list[str]:
    return [f"story {story_id} sentence {i} ." for i in range(5)]


@pytest.fixture(scope="session")
def faulty_ingest(synth_faulty, tmp_path_factory):
    """`ingest` over the shared faulty synthetic dataset: (output dir, report dict)."""
    from components.vist_example_gen.options import IngestConfig
    from components.vist_example_gen.pipeline import ingest

    out = tmp_path_factory.mktemp("faulty_ingest") / "out"
    report = ingest(IngestConfig(data_root=str(synth_faulty)), str(out))
    return out, report


def read_examples(examples_dir: Path) -> dict[str, list]:
    """split -> parsed SequenceExamples (without TensorFlow), in file order."""
    import gzip

    from components.vist_example_gen.tfrecord import parse_sequence_example, read_records

    out: dict[str, list] = {}
    for split_dir in sorted(examples_dir.glob("Split-*")):
        split = split_dir.name.removeprefix("Split-")
        out[split] = [
            parse_sequence_example(r)
            for shard in sorted(split_dir.glob("data_tfrecord-*.gz"))
            for r in read_records(gzip.decompress(shard.read_bytes()))
        ]
    return out


def context(example, key: str) -> str:
    return example.context.feature[key].bytes_list.value[0].decode()


def steps(example, key: str) -> list[list[str]]:
    return [
        [v.decode() for v in f.bytes_list.value]
        for f in example.feature_lists.feature_list[key].feature
    ]


def read_rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]
