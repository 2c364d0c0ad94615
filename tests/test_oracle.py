"""The round-trip oracle for every format, each of its real templates, and each message kind.

For each case: render with and without the assistant message, take the delta, and require that
parsing gives the message back, a trigger fires inside the delta, and llama.cpp's grammar engine
accepts it from the trigger on (tool_choice auto and required). The first template of each format
is snapshotted (prompt, delta, triggers, grammar, parsed message).
"""

from __future__ import annotations


import pytest

from chatformats.testing.templates import shared_templates_path
from chatformats.testing.oracle import message_kinds, run_oracle
from chatformats.hooks import get_registry
from snapshot_text import TextSnapshot, sections

TEMPLATES = shared_templates_path()

# format -> its real templates (the first one is snapshotted)
FORMAT_TEMPLATES = {
    "hermes": [
        "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
        "Qwen-Qwen2.5-7B-Instruct.jinja",
        "Qwen-Qwen3-0.6B.jinja",
        "Qwen-QwQ-32B.jinja",
        "vllm-tool_chat_template_hermes.jinja",
    ],
    "llama3": [
        "meta-llama-Llama-3.1-8B-Instruct.jinja",
        "meta-llama-Llama-3.2-3B-Instruct.jinja",
        "meta-llama-Llama-3.3-70B-Instruct.jinja",
        "vllm-tool_chat_template_llama3.1_json.jinja",
        "vllm-tool_chat_template_llama3.2_json.jinja",
    ],
    "functionary-v3.1": ["meetkai-functionary-medium-v3.1.jinja"],
    "functionary-v3.2": ["meetkai-functionary-medium-v3.2.jinja"],
    "mistral-nemo": [
        "mistralai-Mistral-Nemo-Instruct-2407.jinja",
        "vllm-tool_chat_template_mistral.jinja",
        # (vllm-tool_chat_template_mistral_parallel is left out: it renders the last user turn
        # differently once an answer follows it, so the delta is not a continuation of the prompt.)
    ],
    "firefunction-v2": ["fireworks-ai-llama-3-firefunction-v2.jinja"],
    "deepseek-r1": [
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
        "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        "llama-cpp-deepseek-r1.jinja",
        "vllm-tool_chat_template_deepseekr1.jinja",
        "vllm-tool_chat_template_deepseekv3.jinja",
    ],
    "deepseek-v3.1": ["deepseek-ai-DeepSeek-V3.1.jinja"],
    "generic": [
        "google-gemma-2-2b-it.jinja",
        "microsoft-Phi-3.5-mini-instruct.jinja",
        "mistralai-Mistral-7B-Instruct-v0.2.jinja",
    ],
}

# Message kinds each format can express on the wire.
FORMAT_KINDS = {
    "hermes": ["one_call", "parallel_calls", "content_only", "content_and_call", "reasoning_and_call"],
    "llama3": ["one_call", "content_only", "code_call"],
    "functionary-v3.1": ["one_call", "parallel_calls", "content_only", "content_and_call", "code_call"],
    "functionary-v3.2": ["one_call", "parallel_calls", "content_only", "content_and_call", "code_call"],
    "mistral-nemo": ["one_call", "parallel_calls", "content_only"],
    "firefunction-v2": ["one_call", "parallel_calls", "content_only", "content_and_call"],
    "deepseek-r1": ["one_call", "parallel_calls", "content_only", "content_and_call", "reasoning_and_call"],
    "deepseek-v3.1": ["one_call", "parallel_calls", "content_only", "content_and_call", "reasoning_and_call"],
    "generic": ["one_call", "parallel_calls", "content_only"],
}

CASES = [
    (fmt, template, kind, choice)
    for fmt, templates in FORMAT_TEMPLATES.items()
    for template in templates
    for kind in FORMAT_KINDS[fmt]
    for choice in (["auto", "required"] if kind not in ("content_only", "content_and_call") else ["auto"])
]


def _id(case):
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


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """Templates print today's date (strftime_now): pin it so snapshots are stable."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")  # 2025-01-01 00:00 UTC


@pytest.fixture
def snapshot_text(snapshot):
    return snapshot.with_defaults(extension_class=TextSnapshot)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_round_trip(case, snapshot_text):
    fmt_name, template_name, kind, tool_choice = case
    path = TEMPLATES / template_name
    if not path.exists():
        pytest.skip(f"real templates not found at {TEMPLATES} (set CHATFORMATS_TEMPLATES_DIR)")
    fmt = get_registry().get(fmt_name)
    result = run_oracle(
        fmt, path.read_text(encoding="utf-8"), kind, message_kinds()[kind], tool_choice=tool_choice
    )
    if template_name == FORMAT_TEMPLATES[fmt_name][0]:
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
