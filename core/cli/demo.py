"""`formats demo`: every format on llama.cpp with the project's own tiny model (no download)."""

from __future__ import annotations

import json
from typing import Any, Optional

import jsonschema

from ..hooks import get_registry
# DEMO_TEMPLATE and shared_templates_path are re-exported: they were chatformats.demo's in 0.1.
from ..testing.templates import DEMO_TEMPLATE, shared_templates_path, template_for, templates_dir
from ..testing.tiny_model import ensure_tiny_model

__all__ = [
    "DEMO_TEMPLATE",
    "DEMO_TOOLS",
    "invalid_calls",
    "run_demo",
    "shared_templates_path",
    "skip_reasoning",
    "template_for",
    "templates_dir",
]

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


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
WEATHER_QUESTION = "What's the weather like in Paris right now?"


def run_real_model(seed: int = 0, out=print) -> Optional[bool]:
    """A real model (SmolLM2-135M-Instruct, from the `models` extra) answering with a tool call;
    None when it is not installed."""
    from ..llama import ChatModel
    from ..llama.models import installed_path

    path = installed_path("smollm2-135m")
    if path is None:
        out("real model: SmolLM2-135M-Instruct is not installed (pip install 'chatformats[models]')\n")
        return None
    model = ChatModel(str(path))
    out(f"== a real model: {path.name} (format {model.format.name}: {model.detection.reason})")
    out(f"  user: {WEATHER_QUESTION}")
    result = model.chat(
        [{"role": "user", "content": WEATHER_QUESTION}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=128,
        seed=seed,
    )
    message = result["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    for call in calls:
        arguments = json.loads(call["function"]["arguments"])
        shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
        out(f"  tool call: {call['function']['name']}({shown})")
    out(f"  raw output: {json.dumps(result['chatformats']['raw_output'], ensure_ascii=False)}")
    problems = invalid_calls(message, [WEATHER_TOOL])
    ok = bool(calls) and not problems
    out(f"  {'valid call' if ok else 'INVALID: ' + '; '.join(problems or ['no call'])}, {result['usage']['completion_tokens']} tokens\n")
    return ok


def run_demo(formats: Optional[list[str]] = None, seed: int = 0, out=print) -> int:
    from ..llama import ChatModel  # loads llama.cpp: only when the demo runs

    registry = get_registry()
    real_ok = run_real_model(seed, out) if not formats else None
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
    failures += real_ok is False
    out("all tool calls valid" if not failures else f"{failures} request(s) produced invalid tool calls")
    return 1 if failures else 0
