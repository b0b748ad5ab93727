"""Peak memory of `read_sis` versus `json.load` on a >= 100 MB SIS file.

Writes a synthetic story-in-sequence file with the proportions of the real train split (per
album ~21 `images[]` entries and 5 stories of 5 annotations; ~11-word sentences), then reads it
fully in two fresh processes: once with `vistflow.data.readers.read_sis` (streaming + grouping
into stories), once with `json.load`. Each process reports its peak RSS (`ru_maxrss`) and its
RSS after imports; `multiple` = (peak - baseline) / file size. The last stdout line is the JSON
result (the `python -m benchmarks` contract).

    python -m benchmarks.reader_memory [--size-mb 110] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_STORIES_PER_ALBUM = 5
_IMAGES_PER_ALBUM = 21
_PHOTOS_PER_STORY = 5


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    syllables = ["ba", "ke", "lo", "mi", "nu", "ra", "se", "ti", "vo", "we", "za", "pe", "do"]
    words = {"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(size)}
    return sorted(words)


class _Corpus:
    """Deterministic albums of photos and stories; ids look like real Flickr/VIST ids."""

    def __init__(self, albums: int, seed: int = 0):
        self.albums = albums
        self._seed = seed
        self._words = _vocabulary(random.Random(seed))

    def _album_id(self, a: int) -> str:
        return str(72157594000000000 + a * 7919)

    def _photo_id(self, a: int, i: int) -> str:
        return str(1000000000 + a * _IMAGES_PER_ALBUM + i)

    def album_entries(self) -> Iterator[dict[str, Any]]:
        from vistflow.data.writers import album_entry

        for a in range(self.albums):
            yield album_entry(self._album_id(a), _IMAGES_PER_ALBUM, title=f"album {a}")

    def image_entries(self) -> Iterator[dict[str, Any]]:
        from vistflow.data.writers import image_entry

        for a in range(self.albums):
            for i in range(_IMAGES_PER_ALBUM):
                yield image_entry(self._photo_id(a, i), self._album_id(a), title=f"photo {i}")

    def annotations(self) -> Iterator[dict[str, Any]]:
        from vistflow.data.writers import sis_annotation

        rng = random.Random(self._seed + 1)
        words = self._words
        story = 0
        for a in range(self.albums):
            for _ in range(_STORIES_PER_ALBUM):
                photos = rng.sample(range(_IMAGES_PER_ALBUM), _PHOTOS_PER_STORY)
                for order, photo in enumerate(photos):
                    text = " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))) + " ."
                    yield sis_annotation(
                        str(30000 + story),
                        self._album_id(a),
                        self._photo_id(a, photo),
                        order,
                        text,
                        original_text=text.capitalize().replace(" .", "."),
                        storylet_id=str(150000 + story * _PHOTOS_PER_STORY + order),
                        worker_id=f"W{rng.randrange(10**6):06d}XYZ",
                    )
                story += 1


def write_sis(path: Path, size_mb: float, seed: int = 0) -> dict[str, Any]:
    """Writes a SIS file of at least `size_mb` MB; returns what it contains."""
    from vistflow.data.writers import write_vist_file

    probe = _Corpus(20, seed)
    probe_bytes = sum(len(json.dumps(x)) + 2 for x in probe.album_entries())
    probe_bytes += sum(len(json.dumps(x)) + 2 for x in probe.image_entries())
    probe_bytes += sum(len(json.dumps([x])) + 2 for x in probe.annotations())
    albums = math.ceil(size_mb * 1e6 / (probe_bytes / 20) * 1.02)  # small margin over target
    corpus = _Corpus(albums, seed)
    annotations = write_vist_file(
        path,
        "sis",
        corpus.annotations(),
        albums=corpus.album_entries(),
        images=corpus.image_entries(),
    )
    size = path.stat().st_size
    return {
        "file_mb": round(size / 1e6, 1),
        # read_sis keeps only annotations; this is the share of the file they take.
        "annotations_mb": round((size - _offset_of(path, b'"annotations": [')) / 1e6, 1),
        "albums": albums,
        "images": albums * _IMAGES_PER_ALBUM,
        "stories": albums * _STORIES_PER_ALBUM,
        "annotations": annotations,
    }


def _offset_of(path: Path, marker: bytes) -> int:
    """Byte offset of the first `marker` in the file (streamed; the file is large)."""
    offset, tail = 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            found = (tail + chunk).find(marker)
            if found >= 0:
                return offset - len(tail) + found
            offset += len(chunk)
            tail = chunk[-len(marker) :]
    raise ValueError(f"{marker!r} not in {path}")


def _rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(method: str, path: str) -> dict[str, Any]:
    """Runs in the child process: one full read, peak RSS before and after."""
    import gc

    if method == "read_sis":
        from vistflow.data.readers import read_sis

        def run() -> int:
            return sum(1 for _ in read_sis(path, split="train"))

    elif method == "json_load":

        def run() -> int:
            with open(path, "rb") as f:
                doc = json.load(f)
            return len(doc["annotations"])

    else:
        raise ValueError(method)
    gc.collect()
    baseline = _rss_mb()
    started = time.perf_counter()
    items = run()
    seconds = time.perf_counter() - started
    peak = _rss_mb()
    file_mb = os.path.getsize(path) / 1e6
    return {
        "file_mb": round(file_mb, 1),
        "peak_rss_mb": round(peak, 1),
        "baseline_rss_mb": round(baseline, 1),
        "multiple": round((peak - baseline) / file_mb, 2),
        "seconds": round(seconds, 2),
        "items": items,
    }


def _run_child(method: str, path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.reader_memory", "--measure", method, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{method} child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(size_mb: float, workdir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    """Writes the file, measures both readers, returns the side-by-side result."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "sis" / "train.story-in-sequence.json"
        started = time.perf_counter()
        contents = write_sis(path, size_mb)
        contents["write_seconds"] = round(time.perf_counter() - started, 1)
        result = {
            **contents,
            "read_sis": _run_child("read_sis", path),
            "json_load": _run_child("json_load", path),
        }
        if keep:
            from vistflow.outputs import commit

            kept = (workdir or Path.cwd()) / path.name
            commit(path, kept, replace=True)
            result["kept"] = str(kept)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=110.0, help="file size (default 110)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the file")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--measure", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(*args.measure)))
        return 0
    print(json.dumps(run(args.size_mb, args.workdir, args.keep)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
