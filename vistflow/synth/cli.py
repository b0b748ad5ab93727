"""Generate a deterministic synthetic VIST dataset in the official layout.

Writes DIR/sis/{train,val,test}.story-in-sequence.json, DIR/dii/...description-in-isolation.json,
DIR/images/{split}/<photo_id>.<ext> and DIR/faults.json (the injected faults and the verdict the
ingest stage must reach for each). The same arguments always produce byte-identical files.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--stories", type=int, required=True, help="total number of stories (>= 3)")
    parser.add_argument("--seed", type=int, required=True, help="random seed")
    parser.add_argument(
        "--image-size", type=int, default=64, help="long image side in pixels (default 64)"
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="faults per story, 0..1 (default 0); any rate > 0 injects every fault kind at least once",
    )


def main(args: argparse.Namespace) -> int:
    from vistflow.synth import generate

    result = generate(
        args.out,
        stories=args.stories,
        seed=args.seed,
        image_size=args.image_size,
        fault_rate=args.fault_rate,
    )
    for split in result.sis_files:
        print(
            f"{split}: {result.albums[split]} albums, {result.stories[split]} stories, "
            f"{result.photos[split]} photos, {result.descriptions[split]} descriptions"
        )
    print(f"faults: {result.faults} ({result.faults_file})")
    return 0
