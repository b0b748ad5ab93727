"""What an ingest run reads and the limits it applies; shared by the CLI, `run()` and the executor.

Kept free of Beam/TensorFlow imports so `vistflow ingest --help` stays instant.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, field, replace

from components.vist_example_gen.image_check import DEFAULT_MAX_PIXELS, ImageLimits
from vistflow.errors import VistflowError
from vistflow.image_limits import DEFAULT_MAX_BYTES

FORMATS = ("vist", "karpathy")
VIST_TASKS = ("sis", "dii")
DEFAULT_NUM_SHARDS = 4


@dataclass(frozen=True)
class IngestConfig:
    """Inputs and knobs of one ingest run.

    Args:
      data_root: VIST root (sis/, dii/, images/); for Karpathy the default image root.
      format: "vist" or "karpathy".
      karpathy_json: the Karpathy caption file (format karpathy).
      image_root: folder the Karpathy `filepath/filename` are relative to.
      tasks: VIST annotation tiers to ingest ("sis", "dii").
      limits: image limits (file bytes, pixel count, aspect ratio).
      num_shards: TFRecord shards per split (fixed, so reruns write identical files).
    """

    data_root: str = ""
    format: str = "vist"
    karpathy_json: str = ""
    image_root: str = ""
    tasks: tuple[str, ...] = ("sis",)
    limits: ImageLimits = field(default_factory=ImageLimits)
    num_shards: int = DEFAULT_NUM_SHARDS

    def resolved(self) -> IngestConfig:
        """Validated, with absolute local paths (image URIs in the examples must be absolute)."""
        if self.format not in FORMATS:
            raise VistflowError(
                f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}"
            )
        if self.num_shards < 1:
            raise VistflowError(f"--num-shards must be >= 1, got {self.num_shards}")
        if self.limits.max_pixels < 1 or self.limits.max_aspect < 1 or self.limits.max_bytes < 1:
            raise VistflowError(f"invalid image limits {self.limits}")
        if self.format == "vist":
            if not self.data_root:
                raise VistflowError("--data-root is required for --format vist")
            unknown = sorted(set(self.tasks) - set(VIST_TASKS))
            if unknown or not self.tasks:
                raise VistflowError(
                    f"--tasks must be a non-empty subset of {','.join(VIST_TASKS)}, got {self.tasks}"
                )
            tasks = tuple(t for t in VIST_TASKS if t in self.tasks)
            return replace(self, data_root=_abs(self.data_root), tasks=tasks)
        if not self.karpathy_json:
            raise VistflowError("--karpathy-json is required for --format karpathy")
        image_root = self.image_root or self.data_root
        if not image_root:
            raise VistflowError("--image-root (or --data-root) is required for --format karpathy")
        return replace(
            self,
            data_root=_abs(self.data_root) if self.data_root else "",
            karpathy_json=_abs(self.karpathy_json),
            image_root=_abs(image_root),
            tasks=("caption",),
        )

    def to_report(self) -> dict:
        """The config section of report.json (inputs only: never the output location)."""
        out = asdict(self)
        out["tasks"] = list(self.tasks)
        if self.format == "vist":
            out.pop("karpathy_json")
            out.pop("image_root")
        else:
            out["restval"] = "train"
        return out


def _abs(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The input and limit flags (the caller adds --out)."""
    parser.add_argument("--data-root", default="", help="VIST root: sis/, dii/, images/")
    parser.add_argument("--format", choices=FORMATS, default="vist", help="input format")
    parser.add_argument(
        "--karpathy-json", default="", help="Karpathy caption file (--format karpathy)"
    )
    parser.add_argument(
        "--image-root", default="", help="Karpathy images folder (default: --data-root)"
    )
    parser.add_argument(
        "--tasks",
        default="sis",
        help="VIST tiers to ingest, comma-separated: sis, dii (default sis)",
    )
    parser.add_argument(
        "--max-image-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="image files larger than this are rejected too_large without being read "
        "(default %(default)s = 50 MiB; real VIST/Flickr photos are < ~20 MB)",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"images with more pixels are rejected too_large (default {DEFAULT_MAX_PIXELS})",
    )
    parser.add_argument(
        "--max-aspect-ratio",
        type=float,
        default=ImageLimits().max_aspect,
        help="long/short side above this is rejected too_large (default %(default)s)",
    )
    parser.add_argument(
        "--num-shards",
        type=int,
        default=DEFAULT_NUM_SHARDS,
        help="TFRecord shards per split (default %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    return IngestConfig(
        data_root=args.data_root,
        format=args.format,
        karpathy_json=args.karpathy_json,
        image_root=args.image_root,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
        limits=ImageLimits(
            max_pixels=args.max_image_pixels,
            max_aspect=args.max_aspect_ratio,
            max_bytes=args.max_image_bytes,
        ),
        num_shards=args.num_shards,
    ).resolved()
