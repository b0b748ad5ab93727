"""Roll a served model back: re-publish the previously served version as a new latest version.

Servers watching --model-base-path pick it up like any new version (no restart); nothing is
deleted. Repeated rollbacks walk further back (v3 -> v2 -> v1). Prints the new version number.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-base-path", required=True, type=Path, help="directory holding NAME/"
    )
    parser.add_argument(
        "--model-name", required=True, help="model name (its directory under the base path)"
    )


def main(args: argparse.Namespace) -> int:
    from serving.layout import version_dir
    from serving.publish import read_provenance, rollback

    version = rollback(args.model_base_path, args.model_name)
    origin = read_provenance(version_dir(args.model_base_path / args.model_name, version))
    print(f"{version}\t(content of version {origin.get('origin_version', '?')})")
    return 0
