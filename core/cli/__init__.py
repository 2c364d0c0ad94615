"""The `formats` command: one module per command group, sharing `common`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from ..prompt import LimitsError, RequestError, TemplateError
from ..spec import SpecError
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


def _parse(parser: argparse.ArgumentParser, argv: Optional[list[str]]) -> argparse.Namespace:
    """Parse, letting a command's optional trailing positional (`parse FORMAT --tools T FILE`)
    come after its options too: argparse alone fills it before them and rejects it after."""
    args, extras = parser.parse_known_args(argv)
    trailing = getattr(args, "trailing", None)
    if extras and trailing and all(e == "-" or not e.startswith("-") for e in extras):
        current = getattr(args, trailing)
        if isinstance(current, list):
            current.extend(extras)
            extras = []
        elif current is None and len(extras) == 1:
            setattr(args, trailing, extras[0])
            extras = []
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = _parse(build_parser(), argv)
    _show_progress()
    command = next(group.COMMANDS[args.command] for group in GROUPS if args.command in group.COMMANDS)
    try:
        return command(args)
    except (LimitsError, RequestError, TemplateError, SpecError) as exc:
        # what a command did not expect from its input still ends in one line
        print(f"formats {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
