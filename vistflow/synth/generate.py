"""`generate(...)`: plan a synthetic VIST dataset, inject faults, write it in the official layout."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vistflow.errors import VistflowError
from vistflow.records import SPLITS
from vistflow.synth import writer
from vistflow.synth.faults import plan_faults, sis_path
from vistflow.synth.plan import plan_dataset

log = logging.getLogger(__name__)

FAULTS_FILE = "faults.json"
# What `generate` owns inside the output directory (and replaces when regenerating).
MANAGED = ("sis", "dii", "images", FAULTS_FILE)


@dataclass(frozen=True)
class SynthResult:
    """Where the dataset went and what it holds (counts per split, as written)."""

    root: Path
    sis_files: dict[str, Path]
    dii_files: dict[str, Path]
    images_dir: Path
    faults_file: Path
    albums: dict[str, int]
    stories: dict[str, int]  # story groups in the SIS file, faulty ones included
    photos: dict[str, int]  # entries in `images[]`
    descriptions: dict[str, int]  # DII annotations
    image_files: int  # files written under images/ (fewer than photos when some are missing)
    faults: int  # entries in faults.json


def _prepare(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise VistflowError(f"{root}: output path exists and is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    present = {p.name for p in root.iterdir()}
    if present and FAULTS_FILE not in present:
        # Only replace what a previous run of this generator wrote.
        raise VistflowError(
            f"{root}: directory is not empty and holds no {FAULTS_FILE} from an earlier synth run"
        )
    for name in MANAGED:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def generate(
    out_dir: str | Path,
    *,
    stories: int,
    seed: int,
    image_size: int = 64,
    fault_rate: float = 0.0,
) -> SynthResult:
    """Write a deterministic synthetic VIST dataset (SIS, DII, images, faults.json) to `out_dir`.

    Args:
      out_dir: created if missing; an earlier synth output there is replaced.
      stories: total stories over all splits (albums hold 1-5 stories each; at least 3).
      seed: same arguments give byte-identical files.
      image_size: long side of the images in pixels.
      fault_rate: faults per story (0 for a clean dataset); any rate > 0 injects every kind once.
    """
    if not 0.0 <= fault_rate <= 1.0:
        raise VistflowError(f"--fault-rate must be within [0, 1], got {fault_rate}")
    start = time.perf_counter()
    root = Path(out_dir)
    plan = plan_dataset(stories=stories, seed=seed, image_size=image_size)
    faults = plan_faults(plan, fault_rate, seed)
    _prepare(root)
    image_files = writer.write_images(plan, faults, root)
    writer.write_annotations(plan, faults, root, SPLITS)
    writer.write_json(root / FAULTS_FILE, faults.entries)

    def per_split(items, split_of) -> dict[str, int]:
        return {s: sum(1 for x in items if split_of(x) == s) for s in SPLITS}

    result = SynthResult(
        root=root,
        sis_files={s: root / sis_path(s) for s in SPLITS},
        dii_files={s: root / writer.dii_path(s) for s in SPLITS},
        images_dir=root / "images",
        faults_file=root / FAULTS_FILE,
        albums=per_split(plan.albums, lambda a: a.split),
        stories=per_split(plan.stories, lambda s: s.split),
        photos={s: sum(len(a.photos) for a in plan.albums if a.split == s) for s in SPLITS},
        descriptions=per_split(plan.descriptions, lambda d: plan.album(d.album_id).split),
        image_files=image_files,
        faults=len(faults.entries),
    )
    log.info(
        "synthetic VIST in %s: %d albums, %d stories, %d photos, %d faults (%.1fs)",
        root,
        sum(result.albums.values()),
        sum(result.stories.values()),
        sum(result.photos.values()),
        result.faults,
        time.perf_counter() - start,
    )
    return result
