"""`formats demo`: every format on llama.cpp with the project's own tiny model (no download)."""

from __future__ import annotations

import json
from typing import Any, Optional

import jsonschema

from ..hooks import get_registry
from ..testing.templates import template_for, templates_dir
from ..testing.tiny_model import ensure_tiny_model

DEMO_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 12},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city", "days"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "set_alarm",
            "description": "Set an alarm.",
            "parameters": {
                "type": "object",
                "properties": {
                    "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                    "label": {"type": "string", "maxLength": 8},
                },
                "required": ["hour"],
                "additionalProperties": False,
            },
        },
    },
]

def invalid_calls(message: dict[str, Any], tools: list[dict[str, Any]]) -> list[str]:
    """Why each tool call does not match its tool's schema (empty when all are valid)."""
    schemas = {t["function"]["name"]: t["function"].get("parameters", {}) for t in tools}
    problems = []
    for call in message.get("tool_calls") or []:
        fn = call["function"]
        if fn["name"] not in schemas:
            problems.append(f"unknown tool {fn['name']!r}")
            continue
        try:
            jsonschema.validate(json.loads(fn["arguments"]), schemas[fn["name"]])
        except (ValueError, jsonschema.ValidationError) as exc:
            problems.append(f"{fn['name']}: {getattr(exc, 'message', exc)}")
    return problems


def skip_reasoning(model, fmt, in_reasoning: bool):
    """(logit_bias, steps) that keep a random-weight model out of reasoning, where it would ramble
    until max_tokens: close a block the prompt opened at once, or never open one."""
    reasoning = fmt.spec.reasoning
    if reasoning is None:
        return None, None
    if in_reasoning:
        end = model.single_token(reasoning.end)
        return ({end: 100.0}, 1) if end is not None else (None, None)
    begin = model.single_token(reasoning.begin)
    return ({begin: float("-inf")}, None) if begin is not None else (None, None)


def run_demo(formats: Optional[list[str]] = None, seed: int = 0, out=print) -> int:
    from ..llama import ChatModel  # loads llama.cpp: only when the demo runs

    registry = get_registry()
    path = ensure_tiny_model()
    out(f"tiny model: {path} (random weights: content is noise, tool calls follow the grammar)")
    directory = templates_dir()
    out(f"real templates: {directory or 'not found (set CHATFORMATS_TEMPLATES_DIR)'}\n")
    failures = 0
    names = formats or [f.name for f in registry]
    for name in names:
        fmt = registry.get(name)
        template, described = template_for(fmt, directory)
        model = ChatModel(str(path), fmt.name, template=template, registry=registry)
        out(f"== {fmt.name}  (template: {described})")
        messages = [{"role": "user", "content": "What's the weather in Paris for 3 days?"}]
        for choice in ("required", "auto"):
            prepared = model.prepare(messages, DEMO_TOOLS, choice, parallel_tool_calls=False)
            bias, steps = skip_reasoning(model, fmt, prepared.in_reasoning)
            result = model.run(
                prepared,
                max_tokens=320,
                temperature=0.8,
                seed=seed,
                logit_bias=bias,
                logit_bias_steps=steps,
            )
            message = result["choices"][0]["message"]
            raw = result["chatformats"]["raw_output"]
            problems = invalid_calls(message, DEMO_TOOLS)
            calls = [
                {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
                for c in message.get("tool_calls") or []
            ]
            ok = not problems and (choice != "required" or calls)
            failures += 0 if ok else 1
            triggers = result["chatformats"]["triggers"] or "none (constrained from the first token)"
            out(f"  tool_choice={choice}: finish_reason={result['choices'][0]['finish_reason']}")
            out(f"    triggers:   {json.dumps(triggers, ensure_ascii=False)}")
            out(f"    raw output: {json.dumps(raw[:200], ensure_ascii=False)}{' ...' if len(raw) > 200 else ''}")
            out(f"    tool_calls: {json.dumps(calls, ensure_ascii=False)} {'valid' if ok else 'INVALID: ' + '; '.join(problems or ['no call'])}")
        out("")
    out("all tool calls valid" if not failures else f"{failures} request(s) produced invalid tool calls")
    return 1 if failures else 0
