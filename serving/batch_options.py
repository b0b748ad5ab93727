"""The batch-captioning job's flags and defaults, with the job (`serving.batch_caption`).

Light on purpose (argparse and the shared limits only), so `vistflow batch-caption --help` does
not import Beam or TensorFlow.
"""

from __future__ import annotations

import argparse

# The shared limits, from the module that imports nothing (so --help stays light).
from vistflow.image_limits import DEFAULT_MAX_ASPECT, DEFAULT_MAX_BYTES

DEFAULT_MAX_PIXELS = 60_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own flags (Beam options pass through as unrecognised arguments)."""
    parser.add_argument(
        "--model",
        required=True,
        help="a SavedModel dir, a <base>/<model> dir (its latest version) or a TFX Model uri",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="glob of image files, e.g. 'images/**' (Beam syntax)")
    source.add_argument(
        "--input-list",
        help="a text file of image paths/URIs, one per line (missing files are rejected)",
    )
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="discard what earlier runs wrote to --output (needed to switch models) and start over",
    )
    parser.add_argument(
        "--restart-if-model-changed",
        action="store_true",
        help="resume with the same model, start over when --output was written by another one",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="images per model call")
    parser.add_argument(
        "--rows-per-part",
        type=int,
        default=0,
        help="results per part file, i.e. the resume granularity (default: 8 batches)",
    )
    parser.add_argument(
        "--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="larger files: too_large"
    )
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="larger images: too_large"
    )
    parser.add_argument(
        "--max-aspect-ratio",
        type=float,
        default=DEFAULT_MAX_ASPECT,
        help="long/short side above this: too_large (default %(default)s, as ingest)",
    )
