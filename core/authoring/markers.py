"""Reading markers off probe deltas: common prefixes and suffixes, the call inside a delta, and
where a marker starts and ends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from .probes import CLOSERS, CONTENT, OPENERS


def common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def common_suffix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return a[len(a) - n:]


def json_objects(text: str) -> Iterable[tuple[int, int, Any]]:
    """Every JSON value that starts at a `{` or `[` in text: (start, end, value)."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                continue
            yield i, end, value


@dataclass
class CallSpan:
    start: int
    end: int
    body: str  # "json" or "name"
    keys: dict[str, Any] = field(default_factory=dict)
    name_suffix: str = ""
    obj: Optional[dict[str, Any]] = None


def find_json_call(text: str, name: str, arguments: dict[str, Any], start: int = 0) -> Optional[CallSpan]:
    """The innermost JSON object (from `start`) holding `name` as a value and the arguments."""
    best = None
    for i, end, value in json_objects(text[start:]):
        if not isinstance(value, dict):
            continue
        if name not in value.values():
            continue
        if best is None or (end - i) < (best.end - best.start):
            best = CallSpan(start + i, start + end, "json", obj=value)
    if best is None:
        return None
    obj = best.obj
    name_key = next(k for k, v in obj.items() if v == name)
    args_key = next((k for k, v in obj.items() if v == arguments), None)
    if args_key is None:
        # Arguments as a JSON string inside the object (a double-encoded string).
        args_key = next(
            (k for k, v in obj.items() if isinstance(v, str) and _loads(v) == arguments), None
        )
        best.keys["arguments_string"] = args_key is not None
    best.keys.update(name_key=name_key, arguments_key=args_key)
    return best


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def find_name_call(text: str, name: str, arguments: dict[str, Any], start: int = 0) -> Optional[CallSpan]:
    """NAME, some suffix, then the JSON arguments: <function=NAME>{...} or NAME<sep>{...}."""
    at = text.find(name, start)
    if at < 0:
        return None
    after = at + len(name)
    for i, end, value in json_objects(text[after:]):
        if value == arguments:
            return CallSpan(at, after + end, "name", name_suffix=text[after:after + i])
    return None


def shared_wrapper(content: str, call: str) -> str:
    """Text both a plain reply and a call reply start with, cut after its last complete marker."""
    common = common_prefix(content, call)
    if CONTENT in common:
        return ""
    last = max(common.rfind(c) for c in CLOSERS)
    return common[: last + 1] if last >= 0 else ""


def clean_delta(delta: Optional[str], shared: str, reasoning: Optional[dict[str, str]]) -> Optional[str]:
    if delta is None:
        return None
    if shared and delta.startswith(shared):
        delta = delta[len(shared):]
    return _strip_empty_reasoning(delta, reasoning).lstrip("\n")


def _strip_empty_reasoning(text: str, reasoning: Optional[dict[str, str]]) -> str:
    """Drop an empty reasoning block the template writes before the calls (Command R7B)."""
    if not reasoning:
        return text
    stripped = text.lstrip()
    begin, end = reasoning["begin"], reasoning["end"]
    if stripped.startswith(begin):
        rest = stripped[len(begin):].lstrip()
        if rest.startswith(end):
            return rest[len(end):]
    return text



def first_marker(text: str) -> str:
    """The first token-like piece of text: up to the first '>' or '|>' marker end, else all."""
    for closer in ("|>", "｜>", ">", "]"):
        at = text.find(closer)
        if at >= 0:
            return text[: at + len(closer)]
    return text


def last_marker(text: str) -> str:
    """The last marker in text (what opens the reasoning, not the header before it)."""
    for opener in ("<|", "<｜", "<", "["):
        at = text.rfind(opener)
        if at >= 0:
            return text[at:]
    return text




def marker_start(text: str) -> str:
    """Trim a common suffix that begins inside a marker ("｜><｜tool▁call▁begin｜>")."""
    if text and text[0] not in OPENERS and any(c in text for c in OPENERS):
        first = min(text.find(c) for c in OPENERS if c in text)
        if any(c in text[:first] for c in CLOSERS):
            return text[first:]
    return text


def marker_end(text: str) -> str:
    """Trim a common prefix that ends inside a marker ("<｜tool▁call▁end")."""
    last_open = max(text.rfind(c) for c in OPENERS)
    last_close = max(text.rfind(c) for c in CLOSERS)
    if last_open > last_close:
        return text[:last_open]
    return text


def detect_markers(source: str, tool_calls: dict[str, Any], content: dict[str, str]) -> list[str]:
    """The most distinctive marker that occurs literally in the template source."""
    candidates = [
        tool_calls.get("section", {}).get("begin", ""),
        tool_calls.get("call", {}).get("begin", ""),
        content.get("begin", ""),
        tool_calls.get("call", {}).get("end", ""),
    ]
    for raw in candidates:
        marker = raw.strip()
        while len(marker) >= 3:
            if marker in source:
                return [marker]
            marker = marker[:-1]  # "<function=" is written as '<function=' + name in the source
    return []


