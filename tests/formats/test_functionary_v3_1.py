"""functionary-v3.1 (<function=NAME>{json}, <|python_tag|> + raw code): its examples, its real
template rendered, the cases it must parse, and the round-trip oracle."""

from __future__ import annotations

import json

import pytest

from cases import case_id, check_example, check_round_trip, examples, round_trip_cases
from chatformats.prompt import render_prompt
from parse_helpers import calls, parse, real, real_tools
from render_helpers import (
    LLAMA_END,
    RESULT_TEXT,
    SYSTEM_TEXT,
    Case,
    call,
    check_render,
    needs_templates,
    read_template,
    tool,
)

FORMAT = "functionary-v3.1"
KINDS = ["one_call", "parallel_calls", "content_only", "content_and_call", "code_call"]
SNAPSHOTTED = "meetkai-functionary-medium-v3.1.jinja"

RENDER = {
    "meetkai-functionary-medium-v3.1.jinja": Case(
        [
            SYSTEM_TEXT,
            '<function=special_function>{"arg1": 1}</function>',
            f"<|start_header_id|>ipython<|end_header_id|>\n\n{RESULT_TEXT}",
        ],
        LLAMA_END,
    ),
}


@pytest.mark.parametrize("example", examples(FORMAT), ids=lambda e: e.name)
def test_spec_examples_parse(example):
    check_example(FORMAT, example)


@needs_templates
@pytest.mark.parametrize("template", sorted(RENDER))
def test_render_real_template(template):
    check_render(FORMAT, template, RENDER[template])


@pytest.mark.parametrize("case", round_trip_cases(FORMAT, KINDS), ids=case_id)
def test_round_trip(case, snapshot_text):
    check_round_trip(case, snapshot_text, SNAPSHOTTED)


@needs_templates
def test_functionary_raw_python_call():
    python = tool("python", "Run code", {"type": "object", "properties": {"code": {"type": "string"}}})
    request = {
        "messages": [
            {"role": "user", "content": "Run it"},
            {"role": "assistant", "tool_calls": [call("python", json.dumps({"code": "print('hey')"}))]},
        ],
        "tools": [python],
    }
    prompt = render_prompt(
        real(FORMAT), request, read_template("meetkai-functionary-medium-v3.1.jinja"), add_generation_prompt=False
    )
    assert "<|python_tag|>print('hey')" in prompt
    assert '{"code"' not in prompt.split("Run it", 1)[1]


def test_real_functionary_v31_python():
    spec, tl = real("functionary-v3.1"), real_tools("functionary-v3.1")
    out = parse(spec, '<|python_tag|>{"code": "print(\'json form\')"}', tl)
    assert calls(out) == [("python", {"code": "print('json form')"})]
    out = parse(spec, "<|python_tag|>for i in range(3):\n    print(i)", tl)
    assert calls(out) == [("python", {"code": "for i in range(3):\n    print(i)"})]
    out = parse(spec, "<|python_tag|>print(1)", real_tools("functionary-v3.1")[:2])  # python not offered
    assert out["content"] == "<|python_tag|>print(1)"
