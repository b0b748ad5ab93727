"""Caption images with an exported model: one line per image, `IMAGE<TAB>SCORE<TAB>CAPTION`.

--model is a SavedModel directory, or a `<base>/<model>` directory (its latest version is used).
Runs the model in-process (signature serving_default); no server needed. Images go through the
shared decoder (vistflow.images) as in the server and the feature extractor: any format PIL
reads (JPEG, PNG, WebP, TIFF, GIF, BMP), EXIF orientation applied, 16-bit scaled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, type=Path, help="SavedModel dir or <base>/<model> dir"
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMG", help="image files")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="images per model call (default 32)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list instead of TSV lines"
    )


def print_results(results: list, as_json: bool) -> None:
    """Print TextResults as TSV lines or one JSON list (the CLI's output)."""
    if as_json:
        rows = [{"image": str(r.image), "text": r.text, "score": r.score} for r in results]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in results:
        print(f"{r.image}\t{r.score:.4f}\t{r.text}")


def main(args: argparse.Namespace) -> int:
    from serving.local import LocalModel

    model = LocalModel(args.model)
    print_results(model.caption(list(args.images), batch_size=max(1, args.batch_size)), args.json)
    return 0
