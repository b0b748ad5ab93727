"""Caption a large image collection with an exported model (Beam job, resumable).

Writes OUTPUT/captions.jsonl ({"id", "path", "caption", "score"} per image, sorted by path),
OUTPUT/rejects.jsonl ({"id", "path", "reason", "detail"}; reasons: missing_image (also a
dangling link), not_a_file (directory, FIFO, socket, device: never opened), empty_file,
undecodable, not_an_image, too_large, inference_failed) and OUTPUT/model.json (the model's path,
version and sha256). Every path the input matches is captioned or rejected, once. Rerunning
after a kill skips the images already captioned and never duplicates a line; rerunning with
another model refuses (exit 2) unless --restart. Any other flag is a Beam pipeline option:

  vistflow batch-caption --model serving_root/captioner --input 'images/test/*' --output out \\
      --runner=DirectRunner --direct_num_workers=2
"""

from __future__ import annotations

import argparse
import json

# The shared limits, from the module that imports nothing (so --help stays light).
from vistflow.image_limits import DEFAULT_MAX_ASPECT, DEFAULT_MAX_BYTES

ACCEPTS_BEAM_ARGS = True
DEFAULT_MAX_PIXELS = 60_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own flags (shared with `serving.batch_caption.run`; Beam options pass through)."""
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


def main(args: argparse.Namespace) -> int:
    from serving.batch_caption import run

    argv = ["--model", args.model, "--output", args.output]
    argv += ["--input", args.input] if args.input else ["--input-list", args.input_list]
    argv += ["--batch-size", str(args.batch_size), "--rows-per-part", str(args.rows_per_part)]
    argv += ["--max-bytes", str(args.max_bytes), "--max-pixels", str(args.max_pixels)]
    argv += ["--max-aspect-ratio", str(args.max_aspect_ratio)]
    argv += ["--restart"] if args.restart else []
    argv += ["--restart-if-model-changed"] if args.restart_if_model_changed else []
    summary = run(argv + list(getattr(args, "beam_args", None) or []))
    print(json.dumps(summary, indent=2))
    return 0
