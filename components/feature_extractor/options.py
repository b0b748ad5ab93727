"""What to extract and how to store it: the job's config and its command-line flags (import-light)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from vistflow.backbones import BACKBONES, get_spec
from vistflow.errors import VistflowError

DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class ExtractionConfig:
    """Everything that changes the output bytes."""

    backbone: str
    weights: str = "random"
    seed: int = 0
    dtype: str = "float32"
    store_images: bool = False
    batch_size: int = 16
    num_shards: int = 0  # per split; 0 = one shard per `shard_mb` of serialized examples
    shard_mb: int = 256
    jpeg_quality: int = 90
    # gzip level of the shards. Float features barely compress better at 6 than at 1 (measured
    # on ReLU features: 54% vs 57% of raw size) but level 6 is ~3.5x slower, and compression is
    # the job's largest cost after the CNN itself.
    compression_level: int = 1

    def validate(self) -> ExtractionConfig:
        """Self, or a VistflowError naming the bad setting."""
        get_spec(self.backbone)
        checks = [
            (self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.num_shards >= 0, f"num shards must be >= 0, got {self.num_shards}"),
            (self.shard_mb >= 1, f"shard size must be >= 1 MB, got {self.shard_mb}"),
            (
                1 <= self.jpeg_quality <= 100,
                f"JPEG quality must be 1..100, got {self.jpeg_quality}",
            ),
            (0 <= self.compression_level <= 9, "gzip compression level must be 0..9"),
        ]
        for ok, message in checks:
            if not ok:
                raise VistflowError(message)
        return self


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's flags (shared by `vistflow features` and `python -m ...pipeline`)."""
    parser.add_argument(
        "--examples", required=True, help="Examples dir with Split-<split>/ TFRecords"
    )
    parser.add_argument("--out", required=True, help="output dir (appears only when complete)")
    parser.add_argument("--backbone", required=True, choices=BACKBONES)
    parser.add_argument(
        "--weights",
        default="random",
        help="'random' (seeded; tests/demos only), 'imagenet' (needs network), a weights file, "
        "or the backbone/ dir of an earlier run (default: random)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of random weights (default 0)")
    parser.add_argument("--float16", action="store_true", help="store features as float16")
    parser.add_argument(
        "--store-images", action="store_true", help="also store each resized photo as JPEG"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="inference batch (default 16)")
    parser.add_argument(
        "--num-shards", type=int, default=0, help="shards per split (default: one per --shard-mb)"
    )
    parser.add_argument("--shard-mb", type=int, default=256, help="target shard size (default 256)")
    parser.add_argument(
        "--gzip-level", type=int, default=1, help="gzip level of the shards, 0-9 (default 1)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def config_from_args(args: argparse.Namespace) -> ExtractionConfig:
    return ExtractionConfig(
        backbone=args.backbone,
        weights=args.weights,
        seed=args.seed,
        dtype="float16" if args.float16 else "float32",
        store_images=args.store_images,
        batch_size=args.batch_size,
        num_shards=args.num_shards,
        shard_mb=args.shard_mb,
        compression_level=args.gzip_level,
    )
