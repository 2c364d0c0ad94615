"""firefunction-v2 ( functools[{"name", "arguments"}, ...]): its examples, its real template
rendered, the cases it must parse, and the round-trip oracle."""

from __future__ import annotations

import pytest

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from chatformats.prompt import render_prompt
from chatformats.prompt.template import TemplateError
from parse_helpers import calls, parse, real, real_tools
from render_helpers import (
    LLAMA_END,
    RESULT_TEXT,
    SPECIAL,
    SYSTEM_TEXT,
    Case,
    conversation,
    make_spec,
    needs_templates,
    read_template,
)

FORMAT = "firefunction-v2"
KINDS = ["one_call", "parallel_calls", "content_only", "content_and_call"]
SNAPSHOTTED = "fireworks-ai-llama-3-firefunction-v2.jinja"

RENDER = {
    "fireworks-ai-llama-3-firefunction-v2.jinja": Case(
        [
            SYSTEM_TEXT,
            'Available functions as JSON spec:\n[\n  {\n    "type": "function"',
            "Today is ",
            ' functools[{"name": "special_function", "arguments": {"arg1": 1}}]<|eot_id|>',
            f"<|start_header_id|>tool<|end_header_id|>\n\n{RESULT_TEXT}",
        ],
        LLAMA_END,
    ),
}


@needs_templates
def test_firefunction_without_functions_variable_fails_clearly():
    with pytest.raises(TemplateError) as info:
        render_prompt(
            make_spec({"arguments": "string"}),
            {"messages": conversation(), "tools": [SPECIAL]},
            read_template("fireworks-ai-llama-3-firefunction-v2.jinja"),
        )
    assert info.value.lineno is not None and "functions" in str(info.value)


def test_real_firefunction_leading_space():
    spec, tl = real("firefunction-v2"), real_tools("firefunction-v2")
    call = 'functools[{"name": "get_time", "arguments": {"timezone": "UTC"}}]'
    for text in (" " + call, call, "Sure. " + call):
        out = parse(spec, text, tl)
        assert calls(out) == [("get_time", {"timezone": "UTC"})]
        assert out["content"] == ("Sure." if text.startswith("Sure") else None)
