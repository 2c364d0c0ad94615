"""deepseek-v3.1 (<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{json}<｜tool▁call▁end｜>): its examples,
its real template rendered (with the spec's own template), and the round-trip oracle."""

from __future__ import annotations

import pytest

from cases import case_id, check_example, check_round_trip, examples, round_trip_cases
from render_helpers import R1_RESULT, SYSTEM_TEXT, Case, check_render, needs_templates

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
