"""The conversation, tools and real templates the rendering tests use (tests/prompt and the
per-format files in tests/formats)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from chatformats.hooks import get_registry
from chatformats.prompt import choose_template, render_prompt
from chatformats.spec import Spec
from chatformats.testing.templates import shared_templates_path

TEMPLATES_DIR = shared_templates_path()


def make_spec(
    inputs: Optional[dict] = None, tool_calls: Optional[dict] = None, **fields: Any
) -> Spec:
    """A minimal spec: only `inputs` (and ids/special tools) matter for rendering."""
    return Spec(
        spec_version=1,
        name="test",
        inputs=inputs or {},
        tool_calls={"call": {"begin": "<tool_call>"}, **(tool_calls or {})},
        **fields,
    )


def real_spec(name: str) -> Spec:
    return get_registry().get(name).spec


def tool(name: str, description: Optional[str] = None, parameters: Optional[dict] = None) -> dict:
    function: dict[str, Any] = {"name": name}
    if description is not None:
        function["description"] = description
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


SPECIAL = tool(
    "special_function",
    "I'm special",
    {
        "type": "object",
        "properties": {"arg1": {"type": "integer", "description": "The arg."}},
        "required": ["arg1"],
    },
)
BRAVE = tool(
    "brave_search",
    "Search the web",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
SYSTEM_TEXT = "You are a test assistant."
USER_TEXT = "Call the special function."
RESULT_TEXT = "RESULT_42"
USER = {"role": "user", "content": "hi"}
# What several families' templates write: Llama 3's assistant header, DeepSeek's tool output.
LLAMA_END = "<|start_header_id|>assistant<|end_header_id|>\n\n"
R1_CALL = (
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>special_function\n"
    '```json\n{"arg1": 1}\n```<｜tool▁call▁end｜>'
)
R1_RESULT = f"<｜tool▁output▁begin｜>{RESULT_TEXT}<｜tool▁output▁end｜>"


def call(name="special_function", arguments: Any = '{"arg1": 1}', id="call_abc123") -> dict:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def conversation(system: bool = True) -> list[dict]:
    messages = [{"role": "system", "content": SYSTEM_TEXT}] if system else []
    return messages + [
        {"role": "user", "content": USER_TEXT},
        {"role": "assistant", "content": None, "tool_calls": [call()]},
        {"role": "tool", "tool_call_id": "call_abc123", "content": RESULT_TEXT},
    ]


needs_templates = pytest.mark.skipif(
    not TEMPLATES_DIR.is_dir(),
    reason=f"real chat templates not found at {TEMPLATES_DIR} (set CHATFORMATS_TEMPLATES_DIR)",
)


def template_files() -> list[str]:
    if not TEMPLATES_DIR.is_dir():
        return []
    return sorted(p.name for p in TEMPLATES_DIR.glob("*.jinja"))


def read_template(name: str) -> str:
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


@dataclass
class Case:
    """What a real template must show when it renders `conversation()` with a format's spec."""

    markers: list[str]
    ends_with: Optional[str] = None
    own_template: bool = False  # the model's template cannot show tools: the spec's is used
    extra_tools: list[dict] = field(default_factory=list)


def check_render(format_name: str, template_name: str, case: Case) -> None:
    """Render `conversation()` with the format's spec and the real template; check the markers."""
    if not (TEMPLATES_DIR / template_name).exists():
        pytest.skip(f"{template_name} not in {TEMPLATES_DIR}")
    spec = real_spec(format_name)
    source = choose_template(spec, read_template(template_name))
    assert (source == spec.inputs.template) == case.own_template
    request = {"messages": conversation(), "tools": [SPECIAL, *case.extra_tools]}
    original = copy.deepcopy(request)
    prompt = render_prompt(spec, request, source, bos_token="<BOS>", eos_token="<EOS>")
    assert request == original, "the request must not be modified"
    for marker in [USER_TEXT, RESULT_TEXT, "The arg.", *case.markers]:
        assert marker in prompt, f"{marker!r} missing from:\n{prompt}"
    if case.ends_with is not None:
        assert prompt.endswith(case.ends_with), prompt[-300:]


def python_call_prompt(format_name: str, template_name: str) -> str:
    """The history after a user turn, for an assistant message calling the raw-code `python` tool."""
    python = tool("python", "Run code", {"type": "object", "properties": {"code": {"type": "string"}}})
    request = {
        "messages": [
            {"role": "user", "content": "Run it"},
            {"role": "assistant", "tool_calls": [call("python", json.dumps({"code": "print('hey')"}))]},
        ],
        "tools": [python],
    }
    template = read_template(template_name)
    prompt = render_prompt(real_spec(format_name), request, template, add_generation_prompt=False)
    return prompt.split("Run it", 1)[1]
