"""Caption images with an exported model: one line per image, `IMAGE<TAB>SCORE<TAB>CAPTION`.

--model is a SavedModel directory, or a `<base>/<model>` directory (its latest version is used).
Runs the model in-process (signature serving_default); no server needed. Images go through the
shared decoder (vistflow.images) as in the server and the feature extractor: any format PIL
reads (JPEG, PNG, WebP, TIFF, GIF, BMP), EXIF orientation applied, 16-bit scaled.
A file that cannot be captioned gets one line on stderr, `vistflow caption: error: IMAGE:
REASON: DETAIL` (reasons as batch-caption's rejects), and the others are still captioned; the
exit code is 2 if any file was rejected, 0 if all were captioned.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def print_failures(command: str, failures: list) -> None:
    """One stderr line per file that got no text, naming the file and the reason."""
    for failure in failures:
        print(f"vistflow {command}: error: {failure}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from serving.local import LocalModel

    model = LocalModel(args.model)
    results, failures = model.caption(list(args.images), batch_size=max(1, args.batch_size))
    print_results(results, args.json)
    print_failures("caption", failures)
    return 2 if failures else 0
