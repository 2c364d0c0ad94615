"""Load spec files with ruamel.yaml, keeping positions so every error names file:line:col and the field."""

from __future__ import annotations

import io
import re
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.reader import ReaderError

from .model import Spec

# Spec files come from anywhere: these bound what reading one can cost.
MAX_SPEC_BYTES = 1 << 20
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_INT_DIGITS = 100
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec file, at a 1-based position."""

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class SpecError(ValueError):
    """A spec file that cannot be used; `problems` lists every error found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Composer(Composer):
    """No aliases: `*name` (and merge keys `<<: *name`) would let a few lines expand to billions
    of values (billion laughs); a spec writes its values out."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.get_event()
            raise ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not allowed in spec files: write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


class _Constructor(RoundTripConstructor):
    def construct_yaml_int(self, node: Any) -> Any:
        digits = sum(ch.isalnum() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(
                None, None, f"an integer of {digits} digits (at most {MAX_INT_DIGITS})", node.start_mark
            )
        return super().construct_yaml_int(node)


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


def _yaml() -> YAML:
    # Round-trip mode keeps line/column data on every mapping and sequence; it builds no Python
    # objects from tags, so it is as safe as the safe loader.
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = _Composer
    yaml.Constructor = _Constructor
    yaml.max_depth = MAX_DEPTH  # ruamel >= 0.19; deeper nesting is caught as RecursionError before
    return yaml


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _control_problems(data: Any, path: str) -> list[Problem]:
    """Strings holding control characters (a NUL cuts a marker short inside llama.cpp)."""
    found: list[Problem] = []

    def walk(node: Any, loc: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*loc, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*loc, i))
        elif isinstance(node, str) and _CONTROL.search(node):
            char = _CONTROL.search(node).group()
            line, col = _position(data, loc)
            found.append(Problem(path, line + 1, col + 1, _field_path(loc), f"control character U+{ord(char):04X} in a string"))

    walk(data, ())
    return found


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)  # drop ruamel's scalar string subclasses
    return node


def _position(root: Any, loc: Iterable[Any], at_key: bool = False) -> tuple[int, int]:
    """Walk a pydantic error location through the CommentedMap tree to a 0-based (line, col).

    Scalars point at their value, mappings and lists at their key; `at_key` points the last step
    at its key (an unknown field is the key's fault, not its value's).
    """
    loc = list(loc)
    node = root
    line, col = 0, 0
    if isinstance(root, (CommentedMap, CommentedSeq)):
        line, col = root.lc.line, root.lc.col
    for i, key in enumerate(loc):
        if isinstance(node, CommentedMap) and key in node:
            use_key = isinstance(node[key], (dict, list)) or (at_key and i == len(loc) - 1)
            line, col = node.lc.key(key) if use_key else node.lc.value(key)
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line, col = node.lc.item(key)
            node = node[key]
        else:
            # A missing field or a key pydantic added (union tags): point at the parent.
            break
    return line, col


def _field_path(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for key in loc:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            parts.append(("." if parts else "") + str(key))
    return "".join(parts)


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (check its spelling; `formats schema` lists the fields)"
    if kind == "missing":
        return "field required"
    msg = error["msg"]
    return msg.removeprefix("Value error, ")


def _load_yaml(text: str, path: str) -> Any:
    """The YAML document, bounded (size, depth, aliases, integers, characters); SpecError else."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([Problem(path, 1, 1, "", f"larger than {MAX_SPEC_BYTES >> 20} MiB: not a spec file")])
    bad = _CONTROL.search(text)
    if bad:
        line, col = _line_col(text, bad.start())
        raise SpecError([Problem(path, line, col, "", f"control character U+{ord(bad.group()):04X} is not allowed")])
    try:
        return _yaml().load(io.StringIO(text))
    except (MaxDepthExceededError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(path, line, col, "", f"nested too deeply (at most {MAX_DEPTH} levels)")]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise SpecError([Problem(path, line, col, "", f"invalid YAML: {message}")]) from None
    except ReaderError as exc:  # characters YAML does not allow
        line, col = _line_col(text, exc.position)
        raise SpecError([Problem(path, line, col, "", f"invalid YAML: {exc.reason}")]) from None


def parse_spec_text(text: str, path: str = "<spec>") -> Spec:
    """Parse and validate spec YAML. Raises SpecError with every problem found."""
    data = _load_yaml(text, path)
    if not isinstance(data, CommentedMap):
        raise SpecError([Problem(path, 1, 1, "", "a spec file must be a YAML mapping")])
    control = _control_problems(data, path)
    if control:
        raise SpecError(control)
    try:
        return Spec.model_validate(_plain(data))
    except ValidationError as exc:
        problems = []
        seen = set()
        for error in exc.errors():
            loc = tuple(error["loc"])
            line, col = _position(data, loc, at_key=error["type"] == "extra_forbidden")
            problem = Problem(path, line + 1, col + 1, _field_path(loc), _message(error))
            if problem not in seen:
                seen.add(problem)
                problems.append(problem)
        raise SpecError(problems) from None


def load_spec_file(path: str | Path) -> Spec:
    """Read and validate one spec file."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)  # /dev/zero is a "file" too
        text = raw.decode("utf-8")
    except OSError as exc:
        raise SpecError([Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(str(path), 1, 1, "", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_spec_text(text, str(path))


@lru_cache(maxsize=64)
def _located(path: str, stamp: tuple[int, int]) -> Any:
    with open(path, encoding="utf-8") as file:
        return _load_yaml(file.read(MAX_SPEC_BYTES + 1), path)


def locate(path: str | Path, loc: Iterable[Any]) -> tuple[int, int]:
    """1-based (line, column) of a field (`("examples", 2, "message")`) in a spec file, for
    problems found after loading; (1, 1) when the file cannot be read again."""
    try:
        stat = Path(path).stat()
        data = _located(str(path), (stat.st_mtime_ns, stat.st_size))
    except (OSError, UnicodeDecodeError, SpecError):
        return 1, 1
    line, col = _position(data, loc)
    return line + 1, col + 1
