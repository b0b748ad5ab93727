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

from serving.batch_options import add_arguments  # noqa: F401 - the subcommand's flags

ACCEPTS_BEAM_ARGS = True


def main(args: argparse.Namespace) -> int:
    from serving.batch_caption import run_with_args

    summary = run_with_args(args, list(getattr(args, "beam_args", None) or []))
    print(json.dumps(summary, indent=2))
    return 0
