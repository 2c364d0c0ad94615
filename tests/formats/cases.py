"""The tests every per-format file runs (it imports them; conftest.py parametrizes them from the
file's FORMAT, RENDER, KINDS and SNAPSHOTTED):

- test_spec_examples_parse: each example of the format's spec parses to its message;
- test_render_real_template: each real template in RENDER renders the sample conversation;
- test_round_trip: the round-trip oracle on each of the format's reference templates (render with
  and without the assistant message, take the delta, and require that parsing gives the message
  back, a trigger fires inside the delta, and llama.cpp's grammar engine accepts it from the
  trigger on, for tool_choice auto and required). The SNAPSHOTTED template's cases are
  snapshotted (prompt, delta, triggers, grammar, parsed message) under tests/snapshots/test_<format>/.
"""

from __future__ import annotations

import pytest

from chatformats.hooks import get_registry
from chatformats.output import parse_output
from chatformats.testing.check import example_tools, messages_match
from chatformats.testing.oracle import message_kinds, run_oracle
from chatformats.testing.templates import shared_templates_path
from render_helpers import check_render, needs_templates
from snapshot_text import sections

TEMPLATES = shared_templates_path()
# Kinds whose tool_choice can only be auto (a reply that must call a tool cannot be content only).
AUTO_ONLY = ("content_only", "content_and_call")


def examples(format_name: str) -> list:
    return list(get_registry().get(format_name).spec.examples)


def check_example(format_name: str, example) -> None:
    fmt = get_registry().get(format_name)
    out = parse_output(fmt.spec, example.output, example_tools(fmt, example.tools))
    assert messages_match(out, example.message), out


def round_trip_cases(format_name: str, kinds: list[str]) -> list[tuple[str, str, str, str]]:
    """(format, template, kind, tool_choice) for each reference template of the format."""
    templates = get_registry().get(format_name).spec.reference_templates
    return [
        (format_name, template, kind, choice)
        for template in templates
        for kind in kinds
        for choice in (["auto"] if kind in AUTO_ONLY else ["auto", "required"])
    ]


def case_id(case) -> str:
    fmt, template, kind, choice = case
    return f"{fmt}-{template.removesuffix('.jinja')}-{kind}-{choice}"


def _stable_ids(message, delta):
    """Ids the parser made up (not in the output) are random: show them as such."""
    if not message:
        return message
    calls = [
        {**call, "id": call["id"] if call["id"] in delta else "(generated)"}
        for call in message.get("tool_calls") or []
    ]
    return {**message, "tool_calls": calls} if calls else message


def check_round_trip(case, snapshot_text, snapshotted: str) -> None:
    """Run the oracle on one case; snapshot it when its template is `snapshotted`."""
    fmt_name, template_name, kind, tool_choice = case
    path = TEMPLATES / template_name
    if not path.exists():
        pytest.skip(f"real templates not found at {TEMPLATES} (set CHATFORMATS_TEMPLATES_DIR)")
    fmt = get_registry().get(fmt_name)
    result = run_oracle(
        fmt, path.read_text(encoding="utf-8"), kind, message_kinds()[kind], tool_choice=tool_choice
    )
    if template_name == snapshotted:
        assert snapshot_text == sections(
            format=fmt_name,
            template=template_name,
            case=f"{kind}, tool_choice={tool_choice}",
            skipped=result.skipped,
            prompt=result.prompt,
            delta=result.delta,
            in_reasoning=str(result.in_reasoning),
            triggers=result.triggers,
            grammar=result.grammar,
            parsed=_stable_ids(result.parsed, result.delta),
        )
    if result.skipped:
        pytest.skip(result.skipped)
    assert result.ok, "\n".join(result.failures) + f"\ndelta: {result.delta!r}"


def test_spec_examples_parse(example, request):
    check_example(request.module.FORMAT, example)


@needs_templates
def test_render_real_template(template, request):
    check_render(request.module.FORMAT, template, request.module.RENDER[template])


def test_round_trip(case, snapshot_text, request):
    check_round_trip(case, snapshot_text, request.module.SNAPSHOTTED)
