"""What every `formats` command group shares: the registry for --specs, files and JSON in and out,
one-line errors, commands.

Bad input ends a command with one line on stderr and exit status 1 (`fail`); argparse's usage
errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

from ..hooks import Format, Registry, get_registry

Command = Callable[[argparse.Namespace], int]


class Commands(dict):
    """name -> command function, filled by `@COMMANDS.register("name")` in each group."""

    def register(self, name: str) -> Callable[[Command], Command]:
        def decorate(func: Command) -> Command:
            self[name] = func
            return func

        return decorate


def fail(message: str) -> NoReturn:
    """End the command: `formats: message` on stderr, exit status 1."""
    raise SystemExit(f"formats: {message}")


def registry_for(args: argparse.Namespace) -> Registry:
    """The formats the command sees: the process registry, plus `--specs` directories."""
    for directory in args.specs or ():
        if not Path(directory).is_dir():
            fail(f"--specs {directory}: no such directory")
    return get_registry(args.specs or ())


def get_format(registry: Registry, name: str) -> Format:
    try:
        return registry.get(name)
    except KeyError as exc:
        fail(exc.args[0])


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def read_text(path: str, what: str) -> str:
    """A UTF-8 text file (`-`: stdin), or a one-line failure naming it."""
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        fail(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})")


def read_json(path: str, what: str) -> Any:
    text = read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{what} {path} is not valid JSON: {exc}")
    except RecursionError:
        fail(f"{what} {path} is nested too deeply")


def write_text(path: str, text: str, what: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {what} {path}: {exc.strerror or exc}")
