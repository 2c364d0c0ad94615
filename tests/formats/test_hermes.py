"""hermes (Hermes 2/3 Pro, Qwen 2.5, Qwen3, QwQ): its examples, its real templates rendered, the
cases it must parse, and the round-trip oracle on its reference templates."""

from __future__ import annotations

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from chatformats.prompt import render_prompt
from parse_helpers import NESTED, calls, hermes_call, parse, real, real_tools
from render_helpers import (
    RESULT_TEXT,
    SPECIAL,
    SYSTEM_TEXT,
    USER_TEXT,
    Case,
    conversation,
    make_spec,
    needs_templates,
    read_template,
)

FORMAT = "hermes"
KINDS = ["one_call", "parallel_calls", "content_only", "content_and_call", "reasoning_and_call"]
SNAPSHOTTED = "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja"

CALL = '<tool_call>\n{"name": "special_function", "arguments": {"arg1": 1}}\n</tool_call>'
RESULT = f"<tool_response>\n{RESULT_TEXT}\n</tool_response>"
RENDER = {
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": Case(
        [SYSTEM_TEXT, "<tools>", CALL, RESULT], "<|im_start|>assistant\n"
    ),
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": Case(
        [SYSTEM_TEXT, "<tools>", CALL, RESULT], "<|im_start|>assistant\n"
    ),
    "Qwen-QwQ-32B.jinja": Case([SYSTEM_TEXT, "<tools>", CALL, RESULT], "<|im_start|>assistant\n<think>\n"),
    "Qwen-Qwen2.5-7B-Instruct.jinja": Case(
        [SYSTEM_TEXT, "<tools>", CALL, f"<|im_start|>user\n<tool_response>\n{RESULT_TEXT}"],
        "<|im_start|>assistant\n",
    ),
    "Qwen-Qwen3-0.6B.jinja": Case([SYSTEM_TEXT, "<tools>", CALL, RESULT], "<|im_start|>assistant\n"),
    "vllm-tool_chat_template_hermes.jinja": Case(
        [SYSTEM_TEXT, "<tools>", CALL, RESULT], "<|im_start|>assistant\n"
    ),
}


# -- rendering ------------------------------------------------------------------------------------


@needs_templates
def test_string_arguments_double_encode_in_tojson_templates():
    # Why inputs.arguments exists: Qwen 2.5 applies tojson, so a string shows up quoted.
    prompt = render_prompt(
        make_spec({"arguments": "string"}),
        {"messages": conversation(), "tools": [SPECIAL]},
        read_template("Qwen-Qwen2.5-7B-Instruct.jinja"),
    )
    assert '"arguments": "{\\"arg1\\": 1}"' in prompt


@needs_templates
def test_add_generation_prompt_false():
    prompt = render_prompt(
        real(FORMAT),
        {"messages": conversation()[:2]},
        read_template("Qwen-Qwen2.5-7B-Instruct.jinja"),
        add_generation_prompt=False,
    )
    assert prompt.endswith(f"{USER_TEXT}<|im_end|>\n")


# -- parsing --------------------------------------------------------------------------------------


def test_real_hermes_shapes():
    spec, tl = real("hermes"), real_tools("hermes")
    text = "I'll look.\n" + "\n".join(
        hermes_call(n, a) for n, a in [("get_weather", {"city": "Zürich", "unit": "celsius"}), ("get_time", {"timezone": "Asia/東京"})]
    )
    out = parse(spec, text, tl)
    assert out["content"] == "I'll look."
    assert calls(out) == [("get_weather", {"city": "Zürich", "unit": "celsius"}), ("get_time", {"timezone": "Asia/東京"})]
    assert "東京" in out["tool_calls"][1]["function"]["arguments"]
    nested = parse(spec, hermes_call("get_weather", {"city": NESTED}), tl)
    assert calls(nested) == [("get_weather", {"city": NESTED})]


def test_real_hermes_reasoning_cases():
    spec, tl = real("hermes"), real_tools("hermes")
    out = parse(spec, "<think>\nWeather.\n</think>\n\n" + hermes_call("get_weather", {"city": "Lima"}), tl)
    assert out["reasoning_content"] == "Weather." and out["content"] is None and len(out["tool_calls"]) == 1
    # unclosed: everything after <think> is reasoning
    out = parse(spec, "<think>\nI wonder whether {\"name\": 1} helps", tl)
    assert out == {"role": "assistant", "content": "", "reasoning_content": 'I wonder whether {"name": 1} helps'}
    # the prompt opened the block (Qwen3 / QwQ / R1 distills end the prompt with <think>)
    out = parse(spec, "Hmm.\n</think>\n\nParis.", tl, in_reasoning=True)
    assert out == {"role": "assistant", "content": "Paris.", "reasoning_content": "Hmm."}


def test_a_call_drafted_inside_closed_reasoning_is_reasoning():
    spec, tl = real("hermes"), real_tools("hermes")
    draft = hermes_call("get_weather", {"city": "Rome"})
    out = parse(spec, "<think>I will send " + draft + " next.</think>\nOK.", tl)
    assert "tool_calls" not in out
    assert out["reasoning_content"] == "I will send " + draft + " next." and out["content"] == "OK."
