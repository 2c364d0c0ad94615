"""What the output side knows about one call: ids, arguments, Python-style calls, and the signal a
call reader raises when its text is not a call (`Fail`)."""

from __future__ import annotations

import ast
import json
import random
import string
from typing import Any, Callable, Optional

IdFactory = Callable[[int], str]

_ALNUM = string.ascii_letters + string.digits


class Fail(Exception):
    """Not a well-formed call: its text stays content."""


def new_call_id(style: str, index: int) -> str:
    """A call id in the spec's style: random (call_ + 24 alphanumerics), alnum9 or index."""
    if style == "index":
        return str(index)
    if style == "alnum9":
        return "".join(random.choices(_ALNUM, k=9))
    return "call_" + "".join(random.choices(_ALNUM, k=24))


def tool_names(tools: Optional[list[dict[str, Any]]]) -> Optional[frozenset[str]]:
    """The names of the request's tools; None when no tool list was given (any name is accepted)."""
    if tools is None:
        return None
    names = set()
    for tool in tools:
        if isinstance(tool, dict):
            fn = tool.get("function", tool)
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                names.add(fn["name"])
    return frozenset(names)


def holdback(text: str, start: int, cores: tuple[str, ...]) -> int:
    """Length of the longest tail of text[start:] that is a proper prefix of one of `cores`."""
    available = len(text) - start
    best = 0
    for core in cores:
        k = min(len(core) - 1, available)
        while k > best:
            if text.endswith(core[:k]):
                best = k
                break
            k -= 1
    return best


def dumps(value: Any) -> str:
    """Arguments as the message carries them: JSON, non-ASCII kept; Fail when not serialisable."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        raise Fail from None


def parse_python_call(source: str) -> Optional[tuple[str, dict[str, Any]]]:
    """NAME.call(k="v", n=1) -> (NAME, {"k": "v", "n": 1}); literals only, else None."""
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(node, ast.Call) or node.args:
        return None
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "call" and isinstance(func.value, ast.Name)):
        return None
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            return None
        try:
            arguments[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            return None
    return func.value.id, arguments

