"""What `formats check` verifies for one format: template, examples, grammar, triggers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from ..hooks import Format, Registry, api
from ..llama import plan_rejection
from .tiny_model import tiny_vocab


@dataclass(frozen=True)
class CheckProblem:
    format: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.format}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "where": self.where, "message": self.message}


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def comparable(message: dict[str, Any], with_ids: bool = True) -> dict[str, Any]:
    """A message reduced to what a round trip must preserve (arguments compared as JSON values)."""
    calls = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function", call)
        entry = {"name": fn.get("name"), "arguments": _arguments(fn.get("arguments"))}
        if with_ids and call.get("id") is not None:
            entry["id"] = call["id"]
        calls.append(entry)
    return {
        "content": message.get("content") or None,
        "reasoning_content": message.get("reasoning_content") or None,
        "tool_calls": calls,
    }


def messages_match(parsed: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Does `parsed` carry what `expected` says? Ids are compared only where expected names them."""
    want = comparable(expected)
    got = comparable(parsed)
    for g, w in zip(got["tool_calls"], want["tool_calls"]):
        if "id" not in w:
            g.pop("id", None)
    return got == want


def example_tools(fmt: Format, names: Optional[list[str]] = None) -> list[dict[str, Any]]:
    tools = [dict(t) for t in fmt.spec.example_tools]
    if names is not None:
        tools = [t for t in tools if t.get("function", {}).get("name") in names]
    return tools


def sample_request(fmt: Format) -> dict[str, Any]:
    """A conversation with a call and its result, to render a format's own template."""
    tools = example_tools(fmt)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ]
    if tools:
        fn = tools[0]["function"]
        args = {k: "x" for k in (fn.get("parameters") or {}).get("properties", {})}
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_12345",
                        "type": "function",
                        "function": {"name": fn["name"], "arguments": json.dumps(args)},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_12345", "content": "42"},
        ]
    return {"messages": messages, "tools": tools or None}


PLAIN_TEMPLATE = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"


def check_template(fmt: Format, registry: Optional[Registry] = None) -> list[CheckProblem]:
    spec = fmt.spec
    where = fmt.path or fmt.origin
    if spec.inputs.template is None and spec.system_prompt is None:
        return []
    # A spec with only a system prompt is rendered through a plain template that shows every turn.
    template = spec.inputs.template or PLAIN_TEMPLATE
    try:
        prompt = api.render(fmt, sample_request(fmt), template, registry=registry)
    except Exception as exc:  # report, never crash the checker
        return [CheckProblem(spec.name, where, f"template does not render: {exc}")]
    if not prompt:
        return [CheckProblem(spec.name, where, "template renders to an empty prompt")]
    return []


def check_examples(fmt: Format, registry: Optional[Registry] = None) -> list[CheckProblem]:
    spec = fmt.spec
    problems = []
    where = fmt.path or fmt.origin
    for example in spec.examples:
        label = f"{where}: example {example.name!r}"
        tools = example_tools(fmt, example.tools)
        try:
            parsed = api.parse(fmt, example.output, tools, registry=registry)
        except Exception as exc:
            problems.append(CheckProblem(spec.name, label, f"parser raised {type(exc).__name__}: {exc}"))
            continue
        if not messages_match(parsed, example.message):
            problems.append(
                CheckProblem(
                    spec.name,
                    label,
                    f"parses to {json.dumps(comparable(parsed), ensure_ascii=False)}, "
                    f"expected {json.dumps(comparable(example.message), ensure_ascii=False)}",
                )
            )
            continue
        if not example.message.get("tool_calls") or not tools:
            continue
        parallel = len(example.message["tool_calls"]) > 1
        try:
            plan = api.plan(fmt, tools, "auto", parallel_tool_calls=parallel, registry=registry)
        except Exception as exc:
            problems.append(CheckProblem(spec.name, label, f"grammar: {exc}"))
            continue
        if plan is None:
            problems.append(CheckProblem(spec.name, label, "no grammar for a request with tools"))
            continue
        why = plan_rejection(plan, example.output, vocab=tiny_vocab())
        if why:
            problems.append(CheckProblem(spec.name, label, f"output: {why}"))
    return problems


def check_format(fmt: Format, registry: Optional[Registry] = None) -> list[CheckProblem]:
    """Every problem found in one loaded format (hooks from `registry`, default the process's)."""
    return check_template(fmt, registry) + check_examples(fmt, registry)
