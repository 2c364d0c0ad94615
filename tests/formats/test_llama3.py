"""llama3 (Llama 3.1 / 3.2 / 3.3): its examples, its real templates rendered, the cases it must
parse, and the round-trip oracle on its reference templates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from chatformats.prompt import render_prompt
from parse_helpers import calls, parse, real, real_tools
from render_helpers import (
    BRAVE,
    LLAMA_END,
    RESULT_TEXT,
    SPECIAL,
    SYSTEM_TEXT,
    Case,
    call,
    conversation,
    needs_templates,
    read_template,
)

FORMAT = "llama3"
KINDS = ["one_call", "content_only", "code_call"]
SNAPSHOTTED = "meta-llama-Llama-3.1-8B-Instruct.jinja"

CALL = '{"name": "special_function", "parameters": {"arg1": 1}}'
IPYTHON_RESULT = f'<|start_header_id|>ipython<|end_header_id|>\n\n"{RESULT_TEXT}"'
RENDER = {
    "meta-llama-Llama-3.1-8B-Instruct.jinja": Case(
        [SYSTEM_TEXT, "Environment: ipython\nTools: brave_search\n", CALL, IPYTHON_RESULT],
        LLAMA_END,
        extra_tools=[BRAVE],
    ),
    "meta-llama-Llama-3.3-70B-Instruct.jinja": Case(
        [SYSTEM_TEXT, "Environment: ipython\nTools: brave_search\n", CALL, IPYTHON_RESULT],
        LLAMA_END,
        extra_tools=[BRAVE],
    ),
    "meta-llama-Llama-3.2-3B-Instruct.jinja": Case([SYSTEM_TEXT, CALL, IPYTHON_RESULT], LLAMA_END),
    "vllm-tool_chat_template_llama3.1_json.jinja": Case(
        [SYSTEM_TEXT, CALL, f'{{"output": "{RESULT_TEXT}"}}'], LLAMA_END
    ),
    "vllm-tool_chat_template_llama3.2_json.jinja": Case(
        [SYSTEM_TEXT, CALL, f'{{"output": "{RESULT_TEXT}"}}'], LLAMA_END
    ),
}


# -- rendering ------------------------------------------------------------------------------------


@needs_templates
@pytest.mark.parametrize(
    "name", ["meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.3-70B-Instruct.jinja"]
)
def test_llama_builtin_tool_call(name: str):
    request = {
        "messages": [
            {"role": "user", "content": "Search the weather"},
            {"role": "assistant", "tool_calls": [call("brave_search", '{"query": "weather"}')]},
            {"role": "tool", "tool_call_id": "call_abc123", "content": "sunny"},
        ],
        "tools": [BRAVE],
    }
    prompt = render_prompt(real(FORMAT), request, read_template(name))
    assert '<|python_tag|>brave_search.call(query="weather")<|eom_id|>' in prompt
    assert "Tools: brave_search\n" in prompt


@needs_templates
def test_llama_without_builtin_tools_leaves_builtin_tools_undefined():
    prompt = render_prompt(
        real(FORMAT),
        {"messages": conversation(), "tools": [SPECIAL]},
        read_template("meta-llama-Llama-3.1-8B-Instruct.jinja"),
    )
    assert "Environment: ipython\n" in prompt and "Tools:" not in prompt


@needs_templates
def test_llama_32_date_comes_from_strftime_now():
    prompt = render_prompt(
        real(FORMAT),
        {"messages": conversation()[:2]},
        read_template("meta-llama-Llama-3.2-3B-Instruct.jinja"),
    )
    now = datetime.now()
    dates = {d.strftime("%d %b %Y") for d in (now, now - timedelta(minutes=1))}
    assert any(f"Today Date: {d}\n" in prompt for d in dates)


# -- parsing --------------------------------------------------------------------------------------


def test_real_llama3_builtin_and_json():
    spec, tl = real("llama3"), real_tools("llama3")
    out = parse(spec, '<|python_tag|>brave_search.call(query="x")', tl)
    assert calls(out) == [("brave_search", {"query": "x"})] and out["content"] is None
    # Llama 3.2 writes a JSON call after <|python_tag|>
    out = parse(spec, '<|python_tag|>{"name": "get_time", "parameters": {"timezone": "UTC"}}', tl)
    assert calls(out) == [("get_time", {"timezone": "UTC"})]
    # one call per message (max_calls: 1): a second JSON object is content
    out = parse(spec, '{"name": "get_time", "parameters": {"timezone": "UTC"}} {"name": "get_time", "parameters": {}}', tl)
    assert calls(out) == [("get_time", {"timezone": "UTC"})]
    assert out["content"] == '{"name": "get_time", "parameters": {}}'
