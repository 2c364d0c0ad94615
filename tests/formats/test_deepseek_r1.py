"""deepseek-r1 (DeepSeek R1 and distills: <think>, then <｜tool▁calls▁begin｜> ... fenced JSON):
its examples, its real templates rendered, the cases it must parse, and the round-trip oracle."""

from __future__ import annotations

# The tests every format runs (examples, RENDER, round trips on its reference templates).
from cases import test_render_real_template, test_round_trip, test_spec_examples_parse  # noqa: F401
from parse_helpers import calls, parse, r1_call, real, real_tools
from render_helpers import R1_CALL, R1_RESULT, SYSTEM_TEXT, Case

FORMAT = "deepseek-r1"
KINDS = ["one_call", "parallel_calls", "content_only", "content_and_call", "reasoning_and_call"]
SNAPSHOTTED = "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"

# The distills' templates cannot show tools: the spec's own template is used.
DISTILL = Case(
    [SYSTEM_TEXT, "You can call these tools:", R1_CALL + "<｜tool▁calls▁end｜>", R1_RESULT],
    "<｜Assistant｜><think>\n",
    own_template=True,
)
RENDER = {
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": DISTILL,
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": DISTILL,
    # Needs a tojson that serialises the generator made by |map.
    "llama-cpp-deepseek-r1.jinja": Case(
        [
            SYSTEM_TEXT,
            '[\n  {\n    "name": "special_function",\n    "description": "I\'m special"',
            R1_CALL + "<｜tool▁calls▁end｜>",
            R1_RESULT,
        ],
        "<｜Assistant｜><think>\n",
    ),
    "vllm-tool_chat_template_deepseekr1.jinja": Case([SYSTEM_TEXT, R1_CALL + "<｜tool▁calls▁end｜>", R1_RESULT]),
    "vllm-tool_chat_template_deepseekv3.jinja": Case([SYSTEM_TEXT, R1_CALL, "<｜tool▁calls▁end｜>", R1_RESULT]),
}


def test_real_deepseek_r1_unclosed_section_and_string_arguments():
    spec, tl = real("deepseek-r1"), real_tools("deepseek-r1")
    out = parse(spec, "<｜tool▁calls▁begin｜>" + r1_call("get_weather", {"city": "Paris"}), tl)
    assert calls(out) == [("get_weather", {"city": "Paris"})] and out["content"] is None
    # templates that apply tojson to string arguments write a JSON string holding the object
    text = ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
            '"{\\"city\\": \\"Paris\\"}"\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>')
    assert calls(parse(spec, text, tl)) == [("get_weather", {"city": "Paris"})]
    v31 = real("deepseek-v3.1")
    # a section never closed (the model ran out of tokens) still gives its complete calls
    out = parse(v31, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"timezone\": \"UTC\"}"
                     "<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_ti", real_tools("deepseek-v3.1"))
    assert calls(out) == [("get_time", {"timezone": "UTC"})] and out["content"] == "<｜tool▁call▁begin｜>get_ti"
