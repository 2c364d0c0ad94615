"""What the parsing tests share (tests/output and the per-format files in tests/formats)."""

from __future__ import annotations

import json

from chatformats.hooks import get_registry
from chatformats.output import parse_output
from chatformats.spec import Spec
from chatformats.testing.check import example_tools

NESTED = {"query": {"filters": [{"field": "city", "in": ["Paris", "東京"]}], "limit": 3}, "note": "naïve \"quoted\" }{ ]["}


def tools(*names: str) -> list[dict]:
    return [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in names]


def ids(i: int) -> str:
    return f"id{i}"


def parse(spec: Spec, text: str, tool_list=None, **kw) -> dict:
    return parse_output(spec, text, tool_list, id_factory=ids, **kw)


def calls(message: dict) -> list[tuple[str, object]]:
    """(name, parsed arguments) of each call: compare JSON values, not strings."""
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message.get("tool_calls", [])]


def hermes_call(name: str, args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}, ensure_ascii=False) + "\n</tool_call>"


def r1_call(name: str, args: dict) -> str:
    return (
        "<｜tool▁call▁begin｜>function<｜tool▁sep｜>" + name + "\n```json\n"
        + json.dumps(args, ensure_ascii=False) + "\n```<｜tool▁call▁end｜>"
    )


def complete_arguments(arguments: str, finish_reason: str) -> bool:
    """A streamed call's arguments are complete, unless the reply was cut short inside the call
    (finish_reason "length": its arguments stop where the tokens ran out, as OpenAI's do)."""
    if finish_reason != "length":
        return True
    try:
        json.loads(arguments)
    except ValueError:
        return False
    return True


def real(name: str) -> Spec:
    """A built-in format's spec."""
    return get_registry().get(name).spec


def real_tools(name: str) -> list[dict]:
    """The example tools of a built-in format's spec."""
    return example_tools(get_registry().get(name))


# The formats chatformats ships (specs/*.yaml), and every example their specs carry.
BUILTIN = sorted(f.name for f in get_registry() if f.plugin.startswith("chatformats.formats.builtin"))
EXAMPLES = [(name, example) for name in BUILTIN for example in real(name).examples]
