"""Tell a five-sentence story for an album: its 5 images in file-name order -> 5 sentences.

Prints one line per image, `IMAGE<TAB>SCORE<TAB>SENTENCE`. --model is a SavedModel directory or
a `<base>/<model>` directory (latest version); the model needs a `story` signature. Images are
decoded as by `vistflow caption` (shared decoder: any PIL format, EXIF orientation applied).
A story needs all five: each file that cannot be used gets one stderr line, `vistflow story:
error: IMAGE: REASON: DETAIL`, no story is printed and the exit code is 2.
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
    from commands.caption import print_failures, print_results
    from serving.local import ImageFailure, LocalModel, album_images, load_image

    # Every file is checked (and named if bad) before paying for the model load.
    loaded = [(path, load_image(path)) for path in album_images(args.album)]
    failures = [data for _, data in loaded if isinstance(data, ImageFailure)]
    if failures:
        print_failures("story", failures)
        return 2
    print_results(LocalModel(args.model).story(loaded), args.json)
    return 0
