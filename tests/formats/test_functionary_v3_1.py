"""functionary-v3.1 (<function=NAME>{json}, <|python_tag|> + raw code): its examples, its real
template rendered, the cases it must parse, and the round-trip oracle."""

from __future__ import annotations

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from parse_helpers import calls, parse, real, real_tools
from render_helpers import (
    LLAMA_END,
    RESULT_TEXT,
    SYSTEM_TEXT,
    Case,
    needs_templates,
    python_call_prompt,
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


@needs_templates
def test_functionary_raw_python_call():
    history = python_call_prompt(FORMAT, "meetkai-functionary-medium-v3.1.jinja")
    assert "<|python_tag|>print('hey')" in history
    assert '{"code"' not in history  # the template writes the code itself, not JSON


def test_real_functionary_v31_python():
    spec, tl = real("functionary-v3.1"), real_tools("functionary-v3.1")
    out = parse(spec, '<|python_tag|>{"code": "print(\'json form\')"}', tl)
    assert calls(out) == [("python", {"code": "print('json form')"})]
    out = parse(spec, "<|python_tag|>for i in range(3):\n    print(i)", tl)
    assert calls(out) == [("python", {"code": "for i in range(3):\n    print(i)"})]
    out = parse(spec, "<|python_tag|>print(1)", real_tools("functionary-v3.1")[:2])  # python not offered
    assert out["content"] == "<|python_tag|>print(1)"
