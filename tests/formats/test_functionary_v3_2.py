"""functionary-v3.2 (>>>all text, >>>NAME {json}, python + raw code): its examples, its real
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

FORMAT = "functionary-v3.2"
KINDS = ["one_call", "parallel_calls", "content_only", "content_and_call", "code_call"]
SNAPSHOTTED = "meetkai-functionary-medium-v3.2.jinja"

RENDER = {
    "meetkai-functionary-medium-v3.2.jinja": Case(
        [
            SYSTEM_TEXT,
            "type special_function = (_: {",
            '>>>special_function\n{"arg1": 1}',
            f"<|start_header_id|>tool<|end_header_id|>\n\n{RESULT_TEXT}",
        ],
        LLAMA_END + ">>>",
    ),
}


@needs_templates
def test_functionary_raw_python_call():
    history = python_call_prompt(FORMAT, "meetkai-functionary-medium-v3.2.jinja")
    assert ">>>python\nprint('hey')" in history
    assert '{"code"' not in history  # the template writes the code itself, not JSON


def test_real_functionary_v32():
    spec, tl = real("functionary-v3.2"), real_tools("functionary-v3.2")
    assert parse(spec, "all\nJust text.", tl) == {"role": "assistant", "content": "Just text."}
    out = parse(spec, "python\nimport os\nprint(os.getcwd())\n", tl)
    assert calls(out) == [("python", {"code": "import os\nprint(os.getcwd())"})]
    out = parse(spec, 'all\nRunning.>>>python\n{"code": "print(1)"}>>>get_time\n{"timezone": "UTC"}', tl)
    assert out["content"] == "Running."
    assert calls(out) == [("python", {"code": "print(1)"}), ("get_time", {"timezone": "UTC"})]
