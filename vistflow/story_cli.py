"""Tell a five-sentence story for an album: its 5 images in file-name order -> 5 sentences.

Prints one line per image, `IMAGE<TAB>SCORE<TAB>SENTENCE`. --model is a SavedModel directory or
a `<base>/<model>` directory (latest version); the model needs a `story` signature. Images are
decoded as by `vistflow caption` (shared decoder: any PIL format, EXIF orientation applied).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, type=Path, help="SavedModel dir or <base>/<model> dir"
    )
    parser.add_argument(
        "album", type=Path, metavar="ALBUM_DIR", help="folder with exactly 5 images"
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list instead of TSV lines"
    )


def main(args: argparse.Namespace) -> int:
    from serving.local import LocalModel, album_images
    from vistflow.caption_cli import print_results

    album_images(args.album)  # fail on a bad folder before paying for the model load
    print_results(LocalModel(args.model).story(args.album), args.json)
    return 0
