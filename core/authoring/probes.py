"""Probe conversations rendered with a chat template, and the deltas a model would have emitted.

Templates are untrusted and run in the sandbox (`chatformats.prompt.template`); a template that
raises is recorded (`Prober.errors`), never a traceback.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ..prompt.template import TemplateError, TemplateLimitError, compile_expression, compile_template, strftime_now
from ..testing.oracle import prompt_delta

ALPHA, BETA = "probe_alpha", "probe_beta"
ARGS_A = {"probe_key": "probe_value"}
ARGS_B = {"probe_key": "probe_other", "probe_num": 2}
ID_A, ID_B = "a1b2c3d4e", "f5g6h7i8j"  # 9 alphanumerics: Mistral Nemo raises on anything else
LONG_ID = "call_probe_0123456789"
CONTENT = "Probe content 42."
REASONING = "Probe reasoning 7."
USER = {"role": "user", "content": "Hello, world!"}
EOS_PROBE = "<|probe_eos|>"  # stands for the model's EOS text, which the template may print
# Markers that open the next turn: a delta is cut there too (Command R+ opens a system turn
# after a tool-call reply without closing the assistant's).
TURN_STARTS = ("<|START_OF_TURN_TOKEN|>", "<|im_start|>", "<|start_header_id|>", "<start_of_turn>", "[INST]", "<｜User｜>")
OPENERS = "<["
CLOSERS = ">]"
SYSTEM_TEXT = "PROBE_SYSTEM_TEXT"
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning", "tool_plan")
# Variables some templates read instead of (or beside) `tools`: spec expressions that supply them.
KNOWN_VARIABLES = {
    "functions": "tools | tojson(indent=2)",
    "datetime": "strftime_now('%b %d %Y %H:%M:%S GMT')",
}


def _probe_tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {
                "type": "object",
                "properties": {
                    "probe_key": {"type": "string", "description": "A text."},
                    "probe_num": {"type": "integer", "description": "A number."},
                },
                "required": ["probe_key"],
            },
        },
    }


PROBE_TOOLS = [_probe_tool(ALPHA), _probe_tool(BETA)]


class Prober:
    """Renders probe conversations with one template; remembers every failure as a note."""

    def __init__(self, source: str, notes: list[str], end_of_turn: tuple[str, ...]):
        self.source = source
        self.notes = notes
        self.end_of_turn = end_of_turn  # the markers registered formats end a turn with
        self.template = compile_template(source, "chat_template")
        self.variables: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.limited: Optional[str] = None  # a probe ran past the sandbox's limits: probe no more

    def context(self, messages: list[dict[str, Any]], tools: Optional[list], gen: bool, via: str = "tools") -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "messages": messages,
            "tools": tools if via == "tools" else None,
            "add_generation_prompt": gen,
            "bos_token": "",
            "eos_token": EOS_PROBE,
        }
        scope = {"tools": tools, "messages": messages, "strftime_now": strftime_now, "builtin_tool_names": []}
        for variable, expression in self.variables.items():
            ctx[variable] = compile_expression(expression, variable)(**scope)
        return ctx

    def render(self, label: str, messages: list[dict[str, Any]], tools: Optional[list] = PROBE_TOOLS, gen: bool = False) -> Optional[str]:
        if self.limited:  # each later probe would run into the same limit
            self.errors[label] = self.limited
            return None
        try:
            return self.template.render(**self.context(messages, tools, gen))
        except TemplateLimitError as exc:
            self.limited = self.errors[label] = str(exc)
            self.notes.append(f"stopped probing: {exc}")
            return None
        except TemplateError as exc:
            self.errors[label] = str(exc)
            return None

    def delta(self, label: str, message: dict[str, Any], tools: Optional[list] = PROBE_TOOLS) -> Optional[tuple[str, str]]:
        """(delta cut at the end-of-turn marker, what follows the delta) for one assistant message."""
        prefix = self.render(label + " (prompt)", [USER], tools, gen=True)
        full = self.render(label, [USER, message], tools, gen=False)
        if prefix is None or full is None:
            return None
        uncut = prompt_delta(prefix, full, ())
        cut = len(uncut)
        for marker in self.end_of_turn + (EOS_PROBE,) + TURN_STARTS:
            at = uncut.find(marker, 1 if marker in TURN_STARTS else 0)
            if at >= 0:
                cut = min(cut, at)
        return uncut[:cut], uncut[cut:]


def probe_call(name: str, arguments: Any, call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def calls_message(calls: list[tuple[str, dict[str, Any], str]], as_string: bool, content: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [probe_call(n, json.dumps(a) if as_string else dict(a), i) for n, a, i in calls],
    }
