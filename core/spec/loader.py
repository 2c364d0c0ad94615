"""Load spec files with ruamel.yaml, keeping positions so every error names file:line:col and the field."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .model import Spec


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


def _yaml() -> YAML:
    # Round-trip mode keeps line/column data on every mapping and sequence; it builds no Python
    # objects from tags, so it is as safe as the safe loader.
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


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


def parse_spec_text(text: str, path: str = "<spec>") -> Spec:
    """Parse and validate spec YAML. Raises SpecError with every problem found."""
    try:
        data = _yaml().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise SpecError([Problem(path, line, col, "", f"invalid YAML: {message}")]) from None
    if not isinstance(data, CommentedMap):
        raise SpecError([Problem(path, 1, 1, "", "a spec file must be a YAML mapping")])
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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(str(path), 1, 1, "", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_spec_text(text, str(path))
