"""deepseek-v3.1 (<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{json}<｜tool▁call▁end｜>): its examples,
its real template rendered (with the spec's own template), and the round-trip oracle."""

from __future__ import annotations

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from render_helpers import R1_RESULT, SYSTEM_TEXT, Case

FORMAT = "deepseek-v3.1"
KINDS = ["one_call", "parallel_calls", "content_only", "content_and_call", "reasoning_and_call"]
SNAPSHOTTED = "deepseek-ai-DeepSeek-V3.1.jinja"

RENDER = {
    # The template cannot show tools: the spec's own template is used.
    "deepseek-ai-DeepSeek-V3.1.jinja": Case(
        [
            SYSTEM_TEXT,
            "## Tools",
            '<｜tool▁call▁begin｜>special_function<｜tool▁sep｜>{"arg1": 1}<｜tool▁call▁end｜>',
            R1_RESULT,
        ],
        "<｜Assistant｜></think>",
        own_template=True,
    ),
}


