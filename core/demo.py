"""`formats demo`: every format on llama.cpp with the project's own tiny model (no download)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import jsonschema

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

# A plain template of our own, for formats without one when the real templates are not at hand:
# ChatML turns with the tools listed as JSON in the system turn.
DEMO_TEMPLATE = """\
{%- if tools %}<|im_start|>system
You may call these tools:
{% for tool in tools %}{{ tool.function | tojson }}
{% endfor %}<|im_end|>
{% endif %}
{%- for message in messages %}<|im_start|>{{ message.role }}
{{ message.content if message.content is string else '' }}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

# The real template each format is shown with when ../shared/templates is present.
REAL_TEMPLATES = {
    "hermes": "Qwen-Qwen2.5-7B-Instruct.jinja",
    "llama3": "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "functionary-v3.1": "meetkai-functionary-medium-v3.1.jinja",
    "functionary-v3.2": "meetkai-functionary-medium-v3.2.jinja",
    "mistral-nemo": "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "firefunction-v2": "fireworks-ai-llama-3-firefunction-v2.jinja",
    "deepseek-r1": "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
    "deepseek-v3.1": "deepseek-ai-DeepSeek-V3.1.jinja",
    "generic": "google-gemma-2-2b-it.jinja",
    "command-r7b": "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
}


def shared_templates_path() -> Path:
    """Where the real chat templates are expected: $CHATFORMATS_TEMPLATES_DIR, else the `shared/templates`
    folder beside this checkout."""
    env = os.environ.get("CHATFORMATS_TEMPLATES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "templates"


def templates_dir() -> Optional[Path]:
    """The real chat templates, if they are at hand (also looked for beside the working directory)."""
    for path in (shared_templates_path(), Path.cwd().parent / "shared" / "templates"):
        if path.is_dir():
            return path
    return None


def template_for(fmt, directory: Optional[Path]) -> tuple[Optional[str], str]:
    """(template source, description) used to show `fmt`."""
    name = REAL_TEMPLATES.get(fmt.name)
    if directory and name and (directory / name).exists():
        return (directory / name).read_text(encoding="utf-8"), name
    if fmt.spec.inputs.template is not None:
        return None, "the format's own template"
    return DEMO_TEMPLATE, "chatformats' plain demo template"


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
    from .hooks import get_registry
    from .llama import ChatModel
    from .tiny_model import ensure_tiny_model

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
