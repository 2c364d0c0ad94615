"""The `formats` command: one module per command group, sharing `common`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from . import authoring, offline, runtime

# In the order `formats --help` lists them.
GROUPS = (offline, runtime, authoring)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="formats", description="Tool-calling chat formats for local LLMs (chatformats)."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--specs", action="append", metavar="DIR", help="also load spec files from DIR (repeatable)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub, common)
    return parser


def _show_progress() -> None:
    """Slow first steps (loading a model, reading a large vocabulary) print one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("formats: %(message)s"))
    progress = logging.getLogger("chatformats.progress")
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _show_progress()
    command = next(group.COMMANDS[args.command] for group in GROUPS if args.command in group.COMMANDS)
    try:
        return command(args)
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
