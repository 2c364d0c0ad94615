"""Qwen3-Coder's XML tool calls: parsing with schema-typed values, and the matching GBNF grammar."""

from __future__ import annotations

import functools
import json
import re
import secrets
import string
from typing import Any, Optional

CALL = re.compile(
    r"<tool_call>\s*<function=([^>\n]+)>\n?(.*?)</function>\s*</tool_call>", re.DOTALL
)
PARAMETER = re.compile(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>", re.DOTALL)
_ALNUM = string.ascii_letters + string.digits


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return kind
    if kind:
        return [kind]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [t for sub in schema[key] for t in _types(sub)]
    return ["string"]


def convert(value: str, schema: dict[str, Any]) -> Any:
    """The XML text of a parameter as the type its schema declares (text when nothing fits)."""
    for kind in _types(schema):
        if kind == "string":
            return value
        if kind == "null" and value.strip() == "null":
            return None
        if kind == "boolean" and value.strip() in ("true", "false"):
            return value.strip() == "true"
        if kind == "integer" and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        if kind == "number":
            try:
                number = float(value)
            except ValueError:
                continue
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        if kind in ("object", "array"):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, dict if kind == "object" else list):
                return parsed
    return value


def _schemas(tools: Optional[list[dict[str, Any]]]) -> Optional[dict[str, dict[str, Any]]]:
    if tools is None:
        return None
    return {t["function"]["name"]: (t["function"].get("parameters") or {}) for t in tools}


def parse_xml_calls(text: str, tools: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """An OpenAI assistant message. Blocks that are not well-formed calls of known tools stay content."""
    schemas = _schemas(tools)
    calls: list[dict[str, Any]] = []
    content_parts: list[str] = []
    cursor = 0
    for match in CALL.finditer(text):
        name = match.group(1).strip()
        if schemas is not None and name not in schemas:
            continue
        properties = (schemas or {}).get(name, {}).get("properties", {})
        arguments = {
            key.strip(): convert(value, properties.get(key.strip(), {}))
            for key, value in PARAMETER.findall(match.group(2))
        }
        content_parts.append(text[cursor : match.start()])
        cursor = match.end()
        calls.append(
            {
                "id": "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24)),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        )
    content_parts.append(text[cursor:])
    if not calls:
        return {"role": "assistant", "content": text}
    content = "".join(part.strip("\n") if i else part.rstrip() for i, part in enumerate(content_parts)).strip()
    return {"role": "assistant", "content": content or None, "tool_calls": calls}


def xml_calls_gbnf(tools: list[dict[str, Any]], *, max_calls: Optional[int] = None) -> str:
    """GBNF for one or more XML calls; each value follows its parameter's schema (cached)."""
    return _cached_gbnf(json.dumps(tools), max_calls)  # key order matters: parameters keep theirs


@functools.lru_cache(maxsize=64)
def _cached_gbnf(tools_json: str, max_calls: Optional[int]) -> str:
    tools = json.loads(tools_json)
    from chatformats.grammar import GbnfBuilder, until_rule

    builder = GbnfBuilder()
    lit = builder.literal
    text_value = until_rule(builder, "\n</parameter>")
    alternatives = []
    for index, tool in enumerate(tools):
        fn = tool["function"]
        params = fn.get("parameters") or {}
        required = set(params.get("required", []))
        pieces = []
        for key, schema in (params.get("properties") or {}).items():
            value = _value_rule(builder, schema, text_value, f"t{index}-{key}")
            block = f"{lit('<parameter=' + key + '>' + NL)} {value} {lit(NL + '</parameter>' + NL)}"
            pieces.append(block if key in required else f"({block})?")
        body = " ".join(pieces)
        alternatives.append(f"{lit(fn['name'] + '>' + NL)} {body}".rstrip())
    call = (
        f"{lit('<tool_call>' + NL + '<function=')} ( "
        + " | ".join(alternatives)
        + f" ) {lit('</function>' + NL + '</tool_call>')}"
    )
    repeat = "" if max_calls == 1 else f" ({lit(NL)} call)*"
    return builder.render("call" + repeat, extra_rules={"call": call})


NL = "\n"


def _value_rule(builder, schema: dict[str, Any], free_text: str, name: str) -> str:
    """Strings are raw text up to </parameter> (bounded by maxLength when given); others are JSON."""
    if _types(schema) != ["string"]:
        return builder.add_schema(schema, name)
    if "enum" in schema:
        return builder.add_rule(f"{name}-enum", " | ".join(builder.literal(str(v)) for v in schema["enum"]))
    if "maxLength" in schema:
        low, high = int(schema.get("minLength", 0)), int(schema["maxLength"])
        # without "<" and newlines the text cannot contain the closing marker
        return builder.add_rule(f"{name}-text", f"[^<\\n]{{{low},{high}}}")
    return free_text
