"""What a request offers the model: its tools by name, split into regular and special ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..spec import Spec, SpecialTool


@dataclass
class Offer:
    mode: str  # "auto", "required", "none" or "named"
    tools: dict[str, dict[str, Any]]  # name -> parameters schema (only the named tool when named)
    regular: dict[str, dict[str, Any]]  # every offered tool: special tools keep their regular form
    specials: list[tuple[SpecialTool, list[str]]]  # special tools with their offered names


def offer(spec: Spec, tools: list[dict[str, Any]], tool_choice: Any) -> Offer:
    """Read `tools` and `tool_choice` for `spec`; ValueError for a tool_choice not understood."""
    mode, named = _choice(tool_choice)
    found = _tool_definitions(tools)
    if named is not None:
        if named not in found:
            raise ValueError(f"tool_choice names {named!r}, which is not among the tools offered")
        found = {named: found[named]}
    # Special tools keep the regular form too (Llama 3.2 calls `python` as plain JSON).
    # (a special tool without a begin marker has a syntax of its own only when it is called by name)
    by_name = spec.tool_calls.body == "name"
    specials = [
        (st, [n for n in st.names if n in found])
        for st in spec.tool_calls.special_tools
        if any(n in found for n in st.names) and (st.begin is not None or (st.body == "raw" and by_name))
    ]
    return Offer(mode, found, dict(found), specials)


def _tool_definitions(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name -> parameters schema, in the order offered (first definition of a name wins)."""
    found: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function", tool)
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name or name in found:
            continue
        params = function.get("parameters")
        found[name] = params if isinstance(params, dict) and params else {"type": "object"}
    return found


def _choice(tool_choice: Any) -> tuple[str, Optional[str]]:
    """("auto"|"required"|"none"|"named", name)."""
    if tool_choice is None:
        return "auto", None
    if isinstance(tool_choice, str):
        if tool_choice in ("auto", "required", "none"):
            return tool_choice, None
        raise ValueError(f"tool_choice must be auto, required, none or a function, not {tool_choice!r}")
    if isinstance(tool_choice, dict):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else tool_choice.get("name")
        if isinstance(name, str) and name:
            return "named", name
    raise ValueError(f"tool_choice names no function: {tool_choice!r}")
