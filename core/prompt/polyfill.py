"""Checked messages -> the template inputs a spec's `inputs` says the template wants.

Chat templates disagree on what they accept (arguments as objects or JSON strings, null or empty
content next to tool calls, a system role or not, 9-character ids...). Everything here works on a
request that `request.validate_request` already checked, so nothing here raises; the caller's
request itself is never modified.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from ..spec import Spec
from ..spec.writer import write_calls
from .ids import IdMapper
from .request import CheckedCall, CheckedMessage

# (original id, name, the call as the template gets it, parsed arguments) of one history call
TemplateCall = tuple[str, str, dict[str, Any], dict[str, Any]]


def template_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools with `description` and `parameters` always present: OpenAI makes both optional,
    but Hermes, Functionary v3.1 and Command R templates read them unconditionally."""
    out = []
    for tool in tools:
        function = tool["function"]
        if function.get("description") is not None and function.get("parameters") is not None:
            out.append(tool)
            continue
        filled = {
            "name": function["name"],
            "description": function.get("description") or "",
            "parameters": function.get("parameters") or {"type": "object", "properties": {}},
            **{k: v for k, v in function.items() if k not in ("name", "description", "parameters")},
        }
        out.append({**tool, "function": filled})
    return out


def _raw_argument(spec: Spec, name: str) -> Optional[str]:
    """The argument whose raw text a template writes for `name` (Functionary's python code)."""
    for special in spec.tool_calls.special_tools:
        if special.body == "raw" and name in special.names:
            return special.argument
    return None


def _template_call(spec: Spec, checked: CheckedCall, index: int, ids: IdMapper, as_object: bool) -> dict[str, Any]:
    """One history call as the template wants it (arguments object or text, id in the spec's style)."""
    parsed, raw = checked.arguments, checked.raw_arguments
    raw_key = None if as_object else _raw_argument(spec, checked.name)
    if as_object:
        arguments: Any = parsed
    elif raw_key is not None and isinstance(parsed.get(raw_key), str):
        arguments = parsed[raw_key]  # the template writes the code itself, not JSON
    elif isinstance(raw, str) and raw.strip():
        arguments = raw  # keep the text as the client sent it (prompt-cache friendly)
    else:
        arguments = json.dumps(parsed, ensure_ascii=False)
    new_call = {k: v for k, v in checked.call.items() if k not in ("id", "type", "function")}
    new_call["id"] = ids.for_call(checked.id, index)
    new_call["type"] = "function"
    # `function` keeps name then arguments first: Mistral Nemo prints `function|tojson`.
    new_call["function"] = {
        "name": checked.name,
        "arguments": arguments,
        **{k: v for k, v in checked.function.items() if k not in ("name", "arguments")},
    }
    return new_call


def polyfill_messages(
    spec: Spec, messages: Sequence[CheckedMessage], wants: tuple[str, str], tools_active: bool = True
) -> list[dict[str, Any]]:
    """Copies of the checked messages, shaped the way `spec.inputs` says the template wants.

    `wants` is (arguments, content_with_tool_calls) after any `auto` was resolved. Without tools in
    play (`tools_active` false) a plain answer stays as the model's own template shows it (an
    envelope format does not wrap it in its reply object).
    """
    inputs = spec.inputs
    ids = IdMapper(spec.tool_calls.ids.style)
    out: list[dict[str, Any]] = []
    for checked in messages:
        message = checked.source
        new = dict(message)
        new["content"] = checked.content
        new["role"] = checked.role
        if checked.role == "assistant":
            if inputs.reasoning_field and message.get("reasoning_content") is not None:
                new.setdefault(inputs.reasoning_field, message["reasoning_content"])
            if checked.calls:
                ids.start_message()
                calls: list[TemplateCall] = [
                    (c.id, c.name, _template_call(spec, c, j, ids, wants[0] == "object"), c.arguments)
                    for j, c in enumerate(checked.calls)
                ]
                new["tool_calls"] = [call for _, _, call, _ in calls]
                if inputs.tool_calls_in_content:
                    written = [(call["id"], name, args) for _, name, call, args in calls]
                    new["content"] = write_calls(spec, written, new["content"])
                    del new["tool_calls"]
                elif not new["content"]:
                    new["content"] = None if wants[1] == "null" else ""
            else:
                new.pop("tool_calls", None)  # [] or null: a plain answer
                if new["content"] is None:
                    new["content"] = ""
                if tools_active and inputs.tool_calls_in_content and spec.tool_calls.envelope is not None:
                    new["content"] = json.dumps(
                        {spec.tool_calls.envelope.content_key: new["content"]}, ensure_ascii=False
                    )
        elif checked.role == "tool":
            new["tool_call_id"] = ids.for_result(checked.answers)
            if checked.tool_name is not None:
                new["name"] = checked.tool_name  # some templates label results by the tool's name
            if inputs.tool_results_as_json:
                new["content"] = json.dumps(
                    {
                        "tool_response": {
                            "id": new["tool_call_id"],
                            "name": checked.tool_name,
                            "content": new["content"],
                        }
                    },
                    ensure_ascii=False,
                )
            new["role"] = inputs.tool_role
        out.append(new)
    return out


def merge_system_into_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For templates that reject a system role: system text + blank line + next user text."""
    out: list[dict[str, Any]] = []
    held: list[str] = []
    for message in messages:
        if message["role"] == "system":
            held.append(message["content"])
            continue
        if held and message["role"] == "user":
            message = {**message, "content": "\n\n".join(held + [message["content"]])}
            held = []
        out.append(message)
    if held:  # no user message follows: the instructions become one
        out.append({"role": "user", "content": "\n\n".join(held)})
    return out


def add_system_prompt(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    if messages and messages[0]["role"] == "system":
        first = messages[0]
        merged = f"{text}\n\n{first['content']}" if first["content"] else text
        return [{**first, "content": merged}] + messages[1:]
    return [{"role": "system", "content": text}] + messages
