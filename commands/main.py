"""The `vistflow` command line: one subcommand per module, imported only when used.

Each subcommand module defines a module docstring (its help), `add_arguments(parser)` and
`main(args) -> int`. Modules keep heavy imports (tensorflow, tfx, beam) inside `main`, so
`vistflow --help` and `vistflow SUB --help` stay fast. A module that sets
`ACCEPTS_BEAM_ARGS = True` receives unrecognised arguments as `args.beam_args` (Beam pipeline
options such as `--runner=DirectRunner --direct_num_workers=2`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vistflow import s3_exit
from vistflow.errors import VistflowError

# name -> module implementing it. Later issues add rows here.
SUBCOMMANDS: dict[str, str] = {
    "synth": "vistflow.synth.cli",
    "validate": "vistflow.data.validate_cli",
    "summarize": "vistflow.data.summarize",
    "ingest": "commands.ingest",
    "features": "commands.features",
    "serve": "commands.serve",
    "caption": "commands.caption",
    "story": "commands.story",
    "rollback": "commands.rollback",
    "batch-caption": "commands.batch_caption",
    "evaluate": "commands.evaluate",
    "retrieve": "commands.retrieve",
    "train": "commands.train",
    "export-model": "commands.export_model",
    "run": "pipelines.local_runner",
}


def _load(name: str):
    return importlib.import_module(SUBCOMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vistflow",
        description="Captioning and visual storytelling pipelines (VIST) on TFX, Beam, Airflow.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        module = _load(name)
        doc = (module.__doc__ or name).strip()
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        status = _main(argv)
    except BaseException as e:
        if argv is not None or not s3_exit.plugin_loaded():
            raise
        status = s3_exit.status_of(e)
    if argv is None:  # run as the program: once the S3 plugin is in, leave without its crash
        s3_exit.exit_now(status)
    return status


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    s3_exit.load_plugins_for_args(sys.argv[1:] if argv is None else list(argv))
    module = args._module
    if extra and not getattr(module, "ACCEPTS_BEAM_ARGS", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.beam_args = extra
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        return 130
    except VistflowError as e:  # user-facing errors: one clear line, no traceback
        print(f"vistflow {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # A path the user gave cannot be read or written (a directory, no permission, disk
        # full): still one line naming the path. Errors without a path are bugs: traceback.
        if e.filename is None:
            raise
        print(f"vistflow {args.command}: error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
