"""generic (the reply is one JSON object: tool_call, tool_calls or response), the format of every
template no other format matches: its examples, those templates rendered, the cases it must parse,
and the round-trip oracle on its reference templates."""

from __future__ import annotations

from typing import Optional

import pytest

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from chatformats.prompt import render_prompt
from chatformats.prompt.template import TemplateRaised
from parse_helpers import calls, parse, real, real_tools
from render_helpers import (
    LLAMA_END,
    SYSTEM_TEXT,
    USER_TEXT,
    Case,
    conversation,
    make_spec,
    needs_templates,
    read_template,
)

FORMAT = "generic"
KINDS = ["one_call", "parallel_calls", "content_only"]
SNAPSHOTTED = "google-gemma-2-2b-it.jinja"

# The generic format writes the history's calls and results as its own JSON envelope (the model
# does not write call ids: the server assigns them).
ENVELOPE_CALL = '{"tool_call": {"name": "special_function", "arguments": {"arg1": 1}}}'
ENVELOPE_RESULT = (
    '{"tool_response": {"id": "call_abc123", "name": "special_function", "content": "RESULT_42"}}'
)
GENERIC_PROMPT = "Reply with one JSON object and nothing else"


def generic(*markers: str, ends_with: Optional[str] = None) -> Case:
    return Case([GENERIC_PROMPT, ENVELOPE_CALL, ENVELOPE_RESULT, *markers], ends_with)


RENDER = {
    "CohereForAI-c4ai-command-r-plus-tool_use.jinja": generic(
        SYSTEM_TEXT, ends_with="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
    ),
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": generic(
        SYSTEM_TEXT, ends_with="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
    ),
    # Gemma rejects a system role: `system: auto` merges it into the first user message.
    "google-gemma-2-2b-it.jinja": generic(
        f"{SYSTEM_TEXT}\n\n{USER_TEXT}<end_of_turn>", ends_with="<start_of_turn>model\n"
    ),
    # Phi-3.5 keeps a system role (the probe sees it), so no merge.
    "microsoft-Phi-3.5-mini-instruct.jinja": generic(
        "<|system|>\nYou can call the following tools:", f"{SYSTEM_TEXT}<|end|>",
        ends_with="<|assistant|>\n",
    ),
    "mistralai-Mistral-7B-Instruct-v0.2.jinja": generic(
        "[INST] You can call the following tools:", f"{SYSTEM_TEXT}\n\n{USER_TEXT} [/INST]"
    ),
    "vllm-tool_chat_template_llama3.2_pythonic.jinja": generic(SYSTEM_TEXT, ends_with=LLAMA_END),
}


@needs_templates
def test_gemma_rejects_a_system_message_without_the_merge():
    with pytest.raises(TemplateRaised, match="System role not supported") as info:
        render_prompt(
            make_spec(),
            {"messages": conversation()[:2]},
            read_template("google-gemma-2-2b-it.jinja"),
        )
    assert info.value.name == "chat_template" and info.value.lineno == 1


def test_real_generic_envelope():
    spec, tl = real("generic"), real_tools("generic")
    out = parse(spec, '{"tool_call": {"name": "get_time", "arguments": {"timezone": "UTC"}}}', tl)
    assert calls(out) == [("get_time", {"timezone": "UTC"})]
    out = parse(spec, '{"tool_calls": [{"id": "c1", "name": "get_time", "arguments": {}},'
                      ' {"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "c2"}]}', tl)
    # an id the model writes before the arguments is read; after them the call was already sent
    assert [c["id"] for c in out["tool_calls"]] == ["c1", "id1"]
    assert parse(spec, '  {"response": "Hi!"}\n', tl) == {"role": "assistant", "content": "Hi!"}
    for text in ['{"reply": "x"}', "Sure, here it is.", '{"response": "a"} trailing']:
        assert parse(spec, text, tl) == {"role": "assistant", "content": text}
