"""What every `formats` command group shares: the registry for --specs, JSON in and out, commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from ..hooks import Format, Registry, get_registry

Command = Callable[[argparse.Namespace], int]


class Commands(dict):
    """name -> command function, filled by `@COMMANDS.register("name")` in each group."""

    def register(self, name: str) -> Callable[[Command], Command]:
        def decorate(func: Command) -> Command:
            self[name] = func
            return func

        return decorate


def registry_for(args: argparse.Namespace) -> Registry:
    """The formats the command sees: the process registry, plus `--specs` directories."""
    return get_registry(args.specs or ())


def get_format(registry: Registry, name: str) -> Format:
    try:
        return registry.get(name)
    except KeyError as exc:
        raise SystemExit(f"formats: {exc.args[0]}")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise SystemExit(f"formats: cannot read {what} {path}: {exc.strerror}")
    except ValueError as exc:
        raise SystemExit(f"formats: {what} {path} is not valid JSON: {exc}")
