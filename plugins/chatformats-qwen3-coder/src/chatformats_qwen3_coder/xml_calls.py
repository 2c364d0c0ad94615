"""Qwen3-Coder's XML tool calls: parsing with schema-typed values, and the matching GBNF grammar.

A call is `<tool_call>` `<function=NAME>` then `<parameter=KEY>VALUE</parameter>` blocks (or one
JSON object holding the arguments), `</function>` `</tool_call>`, with whitespace between the
tags. A value is the text between its tags less one newline on each side. Parsing is one pass
(every marker's positions are found once), and loses nothing: a block that is not exactly a call
of an offered tool stays content, text between parameters included.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import re
import secrets
import string
from typing import Any, Optional

_ALNUM = string.ascii_letters + string.digits
_WS = re.compile(r"\s*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
NL = "\n"


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (dict, "object"), (list, "array"))


def _types(schema: dict[str, Any]) -> list[str]:
    """The types a value may have, strings last (text is tried as the other types first)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        found = [k for k in kind if isinstance(k, str)]
    elif isinstance(kind, str):
        found = [kind]
    elif isinstance(schema.get("enum"), list):
        found = [next((t for cls, t in _JSON_TYPES if isinstance(v, cls)), "null") for v in schema["enum"]]
    else:
        found = []
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                found = [t for sub in schema[key] if isinstance(sub, dict) for t in _types(sub)]
                break
    found = list(dict.fromkeys(found or ["string"]))
    return sorted(found, key=lambda t: t == "string")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _finite_int(text: str) -> int:
    _finite(text)  # an integer a double cannot hold is no number a client can use
    return int(text)


_STRICT = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite, parse_int=_finite_int)


def strict_json(text: str) -> Any:
    """JSON with no NaN, Infinity or number a double cannot hold; ValueError otherwise."""
    try:
        value, end = _STRICT.raw_decode(text.strip())
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if end != len(text.strip()):
        raise ValueError("extra data")
    return value


def convert(value: str, schema: dict[str, Any]) -> Any:
    """The XML text of a parameter as the type its schema declares (text when nothing fits)."""
    text = value.strip()
    for kind in _types(schema):
        if kind == "string":
            return value
        if kind == "null" and text == "null":
            return None
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        if kind == "integer" and _INTEGER.fullmatch(text) and math.isfinite(float(text)):
            return int(text)
        if kind == "number" and _NUMBER.fullmatch(text) and math.isfinite(float(text)):
            return int(text) if _INTEGER.fullmatch(text) else float(text)
        if kind in ("object", "array"):
            try:
                parsed = strict_json(text)
            except ValueError:
                continue
            if isinstance(parsed, dict if kind == "object" else list):
                return parsed
    return value


def _schemas(tools: Optional[list[dict[str, Any]]]) -> Optional[dict[str, dict[str, Any]]]:
    if tools is None:
        return None
    found = {}
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            found[function["name"]] = parameters if isinstance(parameters, dict) else {}
    return found


class _Markers:
    """Every position of each marker in the text, found once; `next(marker, i)` is the first at or
    after i."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: dict[str, list[int]] = {}

    def next(self, marker: str, i: int) -> int:
        positions = self.found.get(marker)
        if positions is None:
            positions = []
            at = self.text.find(marker)
            while at >= 0:
                positions.append(at)
                at = self.text.find(marker, at + 1)
            self.found[marker] = positions
        k = bisect.bisect_left(positions, i)
        return positions[k] if k < len(positions) else -1


class _NotACall(Exception):
    pass


def _name_at(text: str, i: int, names: Optional[list[str]]) -> tuple[str, int]:
    """A name ending at ">" (an offered one when `names` is given, longest first)."""
    if names is None:
        end = text.find(">", i, i + 257)
        name = text[i:end] if end > i else ""
        if not name or "\n" in name:
            raise _NotACall
        return name, end + 1
    for name in names:
        if text.startswith(name + ">", i):
            return name, i + len(name) + 1
    raise _NotACall


def _call_at(text: str, i: int, marks: _Markers, schemas: Optional[dict[str, dict[str, Any]]]) -> tuple[int, str, dict[str, Any]]:
    """(end, name, arguments) of the call whose <tool_call> is at i."""
    j = _WS.match(text, i + len("<tool_call>")).end()
    if not text.startswith("<function=", j):
        raise _NotACall
    names = None if schemas is None else sorted(schemas, key=lambda n: (-len(n), n))
    name, j = _name_at(text, j + len("<function="), names)
    properties = ((schemas or {}).get(name) or {}).get("properties") or {}
    keys = sorted(properties, key=lambda k: (-len(k), k)) if isinstance(properties, dict) and properties else None
    end_function = marks.next("</function>", j)
    if end_function < 0:
        raise _NotACall
    arguments: dict[str, Any] = {}
    j = _WS.match(text, j).end()
    if text.startswith("{", j):  # the arguments as one JSON object
        try:
            value = strict_json(text[j:end_function])
        except ValueError:
            raise _NotACall from None
        if not isinstance(value, dict):
            raise _NotACall
        arguments, j = value, end_function
    while j < end_function:
        if not text.startswith("<parameter=", j):
            raise _NotACall  # text between parameters: not a call
        key, j = _name_at(text, j + len("<parameter="), keys)
        close = marks.next("</parameter>", j)
        if close < 0 or close > end_function or key in arguments:
            raise _NotACall
        raw = text[j:close]
        raw = raw[1:] if raw.startswith(NL) else raw
        raw = raw[:-1] if raw.endswith(NL) else raw
        arguments[key] = convert(raw, properties.get(key, {}) if isinstance(properties, dict) else {})
        j = _WS.match(text, close + len("</parameter>")).end()
    j = _WS.match(text, end_function + len("</function>")).end()
    if not text.startswith("</tool_call>", j):
        raise _NotACall
    return j + len("</tool_call>"), name, arguments


def parse_xml_calls(text: str, tools: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """An OpenAI assistant message. Blocks that are not well-formed calls of offered tools stay
    content; whitespace touching a call is dropped, nothing else is."""
    schemas = _schemas(tools)
    marks = _Markers(text)
    calls: list[dict[str, Any]] = []
    pieces: list[str] = []
    cursor = i = 0
    while True:
        i = marks.next("<tool_call>", i)
        if i < 0:
            break
        try:
            end, name, arguments = _call_at(text, i, marks, schemas)
        except _NotACall:
            i += len("<tool_call>")
            continue
        pieces.append(text[cursor:i])
        cursor = i = end
        calls.append(
            {
                "id": "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24)),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        )
    if not calls:
        return {"role": "assistant", "content": text}
    pieces.append(text[cursor:])
    return {"role": "assistant", "content": _join(pieces) or None, "tool_calls": calls}


def _join(pieces: list[str]) -> str:
    """The text around the calls: whitespace touching a call goes, the whitespace that separated two
    pieces stays (as the core's parser does)."""
    out = trail = ""
    for piece in pieces:
        core = piece.strip()
        if not core:
            continue
        if out:
            out += trail or piece[: len(piece) - len(piece.lstrip())]
        out += core
        trail = piece[len(piece.rstrip()) :]
    return out


def xml_calls_gbnf(tools: list[dict[str, Any]], *, max_calls: Optional[int] = None) -> str:
    """GBNF for one or more XML calls; each value follows its parameter's schema (cached)."""
    return _cached_gbnf(json.dumps(tools), max_calls)[0]  # key order matters: parameters keep theirs


def xml_calls_grammar(tools: list[dict[str, Any]], *, max_calls: Optional[int] = None) -> tuple[str, list[str]]:
    """(GBNF, warnings about schema keywords the grammar does not enforce)."""
    gbnf, warnings = _cached_gbnf(json.dumps(tools), max_calls)
    return gbnf, list(warnings)


@functools.lru_cache(maxsize=64)
def _cached_gbnf(tools_json: str, max_calls: Optional[int]) -> tuple[str, tuple[str, ...]]:
    tools = json.loads(tools_json)
    from chatformats.grammar import MAX_PARALLEL_CALLS, GbnfBuilder, until_rule, valid_class

    builder = GbnfBuilder()
    lit = builder.literal
    # a string value holds no "</parameter>" (the parser ends it at the first one)
    text_value = until_rule(builder, "</parameter>", "text-value")
    alternatives = []
    for index, tool in enumerate(tools):
        fn = tool["function"]
        params = fn.get("parameters") or {}
        required = set(params.get("required", []))
        label = f"tools[{index}] {fn['name']}"
        pieces = []
        for key, schema in (params.get("properties") or {}).items():
            value = _value_rule(builder, schema, text_value, f"t{index}-{key}", label, valid_class)
            block = f"{lit('<parameter=' + key + '>' + NL)} {value} {lit(NL + '</parameter>' + NL)}"
            pieces.append(block if key in required else f"({block})?")
        body = " ".join(pieces)
        alternatives.append(f"{lit(fn['name'] + '>' + NL)} {body}".rstrip())
    call = (
        f"{lit('<tool_call>' + NL + '<function=')} ( "
        + " | ".join(alternatives)
        + f" ) {lit('</function>' + NL + '</tool_call>')}"
    )
    limit = max_calls or MAX_PARALLEL_CALLS
    repeat = "" if limit == 1 else f" ({lit(NL)} call){{0,{limit - 1}}}"
    return builder.render("call" + repeat, extra_rules={"call": call}), tuple(builder.warnings)


def _value_rule(builder, schema: dict[str, Any], free_text: str, name: str, label: str, valid_class) -> str:
    """Text up to </parameter> where a string may stand (bounded by maxLength when it is the only
    type); JSON in the schema's shape otherwise."""
    kinds = _types(schema)
    if "string" not in kinds:
        return builder.add_schema(schema, name, label=label)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        texts = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in schema["enum"]]
        return builder.add_rule(f"{name}-enum", " | ".join(builder.literal(t) for t in dict.fromkeys(texts)))
    if kinds == ["string"] and "maxLength" in schema:
        low, high = int(schema.get("minLength", 0)), int(schema["maxLength"])
        # without "<" and newlines the text cannot hold the closing marker
        return builder.add_rule(f"{name}-text", f"{valid_class('<' + NL)}{{{low},{high}}}")
    return free_text
