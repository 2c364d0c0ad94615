"""The round-trip oracle (the check llama.cpp's test-chat.cpp runs on every format).

Render a conversation with and without an assistant message M, take the delta the model would
have had to emit, then require: parse(delta) gives M back; a trigger fires inside the delta; the
grammar (llama.cpp's own engine) accepts the delta from the trigger on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ..hooks import Format, Registry, api, get_registry
from ..llama import plan_check, plan_rejection
from ..spec.shape import opens_reasoning
from .check import comparable
from .tiny_model import tiny_vocab

USER = {"role": "user", "content": "Hello, world!"}


def _tool(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


SPECIAL_FUNCTION = _tool("special_function", {"arg1": {"type": "integer", "description": "The arg."}}, ["arg1"])
SPECIAL_FUNCTION_WITH_OPT = _tool(
    "special_function_with_opt",
    {"arg1": {"type": "integer", "description": "The arg."}, "arg2": {"type": "integer", "description": "Optional."}},
    ["arg1"],
)
PYTHON = _tool("python", {"code": {"type": "string", "description": "Python code to run."}}, ["code"])
CODE_INTERPRETER = _tool("code_interpreter", {"code": {"type": "string", "description": "Code."}}, ["code"])
TOOLS = [SPECIAL_FUNCTION, SPECIAL_FUNCTION_WITH_OPT, PYTHON, CODE_INTERPRETER]


def _call(name: str, arguments: dict[str, Any], call_id: str = "123456789") -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def message_kinds() -> dict[str, dict[str, Any]]:
    """The assistant messages the oracle round-trips, by kind."""
    one = _call("special_function", {"arg1": 1})
    return {
        "one_call": {"role": "assistant", "content": None, "tool_calls": [one]},
        "parallel_calls": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                one,
                _call("special_function_with_opt", {"arg1": 1, "arg2": 2}, "987654321"),
            ],
        },
        "content_only": {"role": "assistant", "content": "Hello, world!\nWhat's up?"},
        "content_and_call": {"role": "assistant", "content": "Let me call it.", "tool_calls": [one]},
        "reasoning_and_call": {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I'm\nthinking",
            "tool_calls": [one],
        },
        "code_call": {
            "role": "assistant",
            "content": None,
            "tool_calls": [_call("python", {"code": "print('hey')"})],
        },
    }


@dataclass
class OracleResult:
    format: str
    kind: str
    tool_choice: str
    prompt: str = ""
    delta: str = ""
    in_reasoning: bool = False
    parsed: Optional[dict[str, Any]] = None
    expected: Optional[dict[str, Any]] = None
    grammar: Optional[str] = None
    triggers: Optional[dict[str, Any]] = None
    triggered: Optional[bool] = None
    accepted: Optional[bool] = None
    skipped: Optional[str] = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def known_end_of_turn(registry: Optional[Registry] = None) -> tuple[str, ...]:
    """Every registered format's `stop` and `end_of_turn` markers: what ends a turn in templates."""
    found = (m for f in (registry or get_registry()) for m in (*f.spec.stop, *f.spec.end_of_turn))
    return tuple(dict.fromkeys(found))


def end_of_turn_markers(fmt: Format, registry: Optional[Registry] = None) -> tuple[str, ...]:
    """Where a rendered reply of `fmt` ends: its own markers first, then every registered format's
    (a template may close a turn with another family's marker)."""
    return tuple(dict.fromkeys([*fmt.spec.stop, *fmt.spec.end_of_turn, *known_end_of_turn(registry)]))


def prompt_delta(prefix: str, full: str, end_markers: tuple[str, ...] = ()) -> str:
    """What the model must emit after `prefix` to produce `full` (as llama.cpp's test computes it)."""
    common = 0
    for i in range(min(len(prefix), len(full))):
        if prefix[i] != full[i]:
            break
        if prefix[i] == "<":
            # Never end the common prefix on "<": templates that add a trailing <think> to the
            # generation prompt diverge right after it.
            continue
        common = i + 1
    # Nor inside a marker: "<think>" and "<tool_call>" share "<t", which is no place to cut.
    opening = full.rfind("<", 0, common)
    if opening != -1 and full.find(">", opening, common) == -1:
        common = opening
    delta = full[common:]
    for marker in end_markers:
        pos = delta.rfind(marker)
        if pos != -1:
            return delta[:pos]
    return delta


def _unexpressed(expected: dict[str, Any], delta: str) -> Optional[str]:
    """Why the template cannot show this message (then there is nothing to round-trip), or None."""
    if expected["reasoning_content"] and expected["reasoning_content"] not in delta:
        return "the template drops reasoning from the history"
    content = expected["content"]
    if content and content not in delta and json.dumps(content)[1:-1] not in delta:
        return "the template drops the content of a message with tool calls"
    if any(call["name"] not in delta for call in expected["tool_calls"]):
        return "the template drops the tool calls of a message with content"
    return None


def run_oracle(
    fmt: Format,
    template: Optional[str],
    kind: str,
    message: dict[str, Any],
    *,
    tool_choice: str = "auto",
    tools: Optional[list[dict[str, Any]]] = None,
    bos_token: str = "",
    eos_token: str = "",
    extra_request: Optional[dict[str, Any]] = None,
    registry: Optional[Registry] = None,
) -> OracleResult:
    """Round-trip one assistant message through `fmt` and `template`."""
    tools = TOOLS if tools is None else tools
    result = OracleResult(fmt.name, kind, tool_choice)
    base = {"tools": tools, **(extra_request or {})}
    render = dict(bos_token=bos_token, eos_token=eos_token, registry=registry)
    prefix = api.render(fmt, {**base, "messages": [USER]}, template, add_generation_prompt=True, **render)
    full = api.render(fmt, {**base, "messages": [USER, message]}, template, add_generation_prompt=False, **render)
    end_markers = end_of_turn_markers(fmt, registry)
    result.prompt = full
    result.delta = delta = prompt_delta(prefix, full, end_markers)
    # A prompt that opens a reasoning block (QwQ, R1: "<think>\n") while the template strips past
    # reasoning renders a delta without it: only a delta that closes the block starts inside one.
    reasoning = fmt.spec.reasoning
    result.in_reasoning = opens_reasoning(fmt.spec, prefix) and reasoning is not None and reasoning.end in delta

    expected = comparable(message)
    result.skipped = _unexpressed(expected, delta)
    if result.skipped:
        return result
    result.expected = expected
    parsed = api.parse(fmt, delta, tools, in_reasoning=result.in_reasoning, registry=registry)
    result.parsed = parsed
    got = comparable(parsed)
    # Ids round-trip only where the template writes them as given (Mistral); Command R7B renumbers
    # them and most templates leave them out, so the parser reads or makes up its own.
    for got_call, want_call in zip(got["tool_calls"], expected["tool_calls"]):
        if want_call.get("id") not in delta:
            got_call.pop("id", None)
            want_call.pop("id", None)
    # Whitespace around content is the template's layout (e.g. "[TOOL_CALLS] " or indentation).
    for side in (got, expected):
        side["content"] = (side["content"] or "").strip() or None
    if got != expected:
        result.failures.append(f"parse: got {json.dumps(got)}, expected {json.dumps(expected)}")

    if not message.get("tool_calls"):
        return result
    parallel = len(message["tool_calls"]) > 1
    plan = api.plan(
        fmt, tools, tool_choice, parallel_tool_calls=parallel, in_reasoning=result.in_reasoning, registry=registry
    )
    if plan is None:
        result.failures.append("no grammar for a request with tools")
        return result
    result.grammar = plan.gbnf
    result.triggers = plan.triggers_dict()
    result.triggered, result.accepted = plan_check(plan, delta, vocab=tiny_vocab())
    if not (result.triggered and result.accepted):
        result.failures.append(f"delta: {plan_rejection(plan, delta, vocab=tiny_vocab())}")
    return result
