"""Validate VIST (SIS/DII) and Karpathy caption JSON files against the schemas in schemas/.

Files are streamed, never loaded at once, so the real multi-hundred-MB SIS train file is fine.
A directory argument stands for every annotation file it holds in the official VIST layout
(<root>/sis/*.story-in-sequence.json, <root>/dii/*.description-in-isolation.json) plus any
dataset_*.json directly inside it. Prints one line per valid file; stops with exit status 2 at
the first invalid file, naming the file, the JSON path and the reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vistflow.errors import VistflowError
from vistflow.records import SPLITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="JSON files or VIST data roots")
    parser.add_argument(
        "--kind",
        choices=("sis", "dii", "karpathy"),
        default=None,
        help="file kind (default: inferred from each file name)",
    )


def _split_order(path: Path) -> tuple[int, str]:
    split = path.name.split(".", 1)[0]
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), path.name)


def expand_paths(paths: list[str]) -> list[Path]:
    """Files to validate: files as given, directories expanded to their annotation files."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            out.append(path)  # validate_file reports a missing file itself
            continue
        found = sorted(path.glob("sis/*.story-in-sequence.json"), key=_split_order)
        found += sorted(path.glob("dii/*.description-in-isolation.json"), key=_split_order)
        found += sorted(path.glob("dataset_*.json"))
        if not found:
            raise VistflowError(
                f"{path}: no annotation files found (expected sis/<split>.story-in-sequence.json, "
                "dii/<split>.description-in-isolation.json or dataset_*.json)"
            )
        out.extend(found)
    return out


def main(args: argparse.Namespace) -> int:
    from vistflow.data.validate import validate_file

    for path in expand_paths(args.paths):
        summary = validate_file(path, args.kind)
        print(summary.describe(), flush=True)
    return 0
