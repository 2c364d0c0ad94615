"""mistral-nemo ([TOOL_CALLS][{"name", "arguments", "id"}], 9-character ids): its examples, its
real templates rendered, the cases it must parse, and the round-trip oracle."""

from __future__ import annotations

import re

import pytest

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from chatformats.output import parse_output
from chatformats.prompt import render_prompt
from chatformats.prompt.template import TemplateRaised
from parse_helpers import real, real_tools
from render_helpers import SPECIAL, Case, conversation, make_spec, needs_templates, read_template

FORMAT = "mistral-nemo"
KINDS = ["one_call", "parallel_calls", "content_only"]
SNAPSHOTTED = "mistralai-Mistral-Nemo-Instruct-2407.jinja"

VLLM = Case(
    [
        "[AVAILABLE_TOOLS] [",
        '[TOOL_CALLS] [{"name": "special_function", "arguments": {"arg1": 1}, "id": "',
        '[TOOL_RESULTS] {"content": RESULT_42, "call_id": "',
    ]
)
RENDER = {
    # Nemo prints the system message only next to a final user message: not here.
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": Case(
        [
            '[AVAILABLE_TOOLS][{"type": "function", "function": {"name": "special_function"',
            '[TOOL_CALLS][{"name": "special_function", "arguments": {"arg1": 1}, "id": "',
            '[TOOL_RESULTS]{"content": RESULT_42, "call_id": "',
        ]
    ),
    "vllm-tool_chat_template_mistral.jinja": VLLM,
    "vllm-tool_chat_template_mistral_parallel.jinja": VLLM,
}


# (vllm-tool_chat_template_mistral_parallel is not a reference template: it renders the last user
# turn differently once an answer follows it, so the delta is not a continuation of the prompt.)


# -- rendering ------------------------------------------------------------------------------------


@needs_templates
@pytest.mark.parametrize(
    "name", ["mistralai-Mistral-Nemo-Instruct-2407.jinja", "vllm-tool_chat_template_mistral.jinja"]
)
def test_mistral_ids_are_nine_alphanumerics_and_match(name: str):
    prompt = render_prompt(
        real(FORMAT),
        {"messages": conversation(), "tools": [SPECIAL]},
        read_template(name),
    )
    call_ids = re.findall(r'"id": "([^"]*)"', prompt)
    result_ids = re.findall(r'"call_id": "([^"]*)"', prompt)
    assert len(call_ids) == 1 and re.fullmatch(r"[A-Za-z0-9]{9}", call_ids[0])
    assert result_ids == call_ids


@needs_templates
def test_mistral_nemo_rejects_ids_without_the_polyfill():
    with pytest.raises(TemplateRaised, match="length 9"):
        render_prompt(
            make_spec({"arguments": "object"}),
            {"messages": conversation(), "tools": [SPECIAL]},
            read_template("mistralai-Mistral-Nemo-Instruct-2407.jinja"),
        )


# -- parsing --------------------------------------------------------------------------------------


def test_real_mistral_ids():
    spec = real("mistral-nemo")
    out = parse_output(spec, '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "Ab3dE6gH9"},'
                             ' {"name": "get_time", "arguments": {"timezone": "UTC"}}]', real_tools("mistral-nemo"))
    assert out["tool_calls"][0]["id"] == "Ab3dE6gH9"
    assert re.fullmatch(r"[A-Za-z0-9]{9}", out["tool_calls"][1]["id"])
