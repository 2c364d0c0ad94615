"""parse_output: every wire shape of the spec vocabulary, interpreted generically, never raising.

Shapes are built in Python (`shapes`); what the built-in specs (specs/*.yaml) must parse is in
tests/formats/test_<name>.py, and the cases that cross formats are at the end of this file.
"""

from __future__ import annotations

import re

import pytest

from chatformats.output import StreamParser, parse_output
from parse_helpers import NESTED, calls, hermes_call, parse, r1_call, real, real_tools, tools
from shapes import (
    ALL_SPECS,
    DEEPSEEK_R1,
    FIREFUNCTION,
    FUNCTIONARY_31,
    FUNCTIONARY_32,
    GENERIC,
    HERMES,
    LLAMA3,
    MISTRAL,
    make_spec,
)


# -- content only --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("text", ["Hello, world!", "  Two lines\nof text.  \n", "", "价格是 5 €"])
def test_content_only_comes_back_as_is(spec, text):
    message = parse(spec, text)
    assert message == {"role": "assistant", "content": text}


# -- Hermes / Qwen -------------------------------------------------------------------------------


def test_hermes_content_and_call():
    out = parse(HERMES, "Let me check.\n" + hermes_call("get_weather", {"city": "Paris"}))
    assert out["content"] == "Let me check."
    assert calls(out) == [("get_weather", {"city": "Paris"})]
    assert out["tool_calls"][0]["id"] == "id0" and out["tool_calls"][0]["type"] == "function"


def test_hermes_parallel_calls_are_all_parsed():
    text = "\n".join(hermes_call(f"f{i}", {"i": i}) for i in range(4))
    out = parse(HERMES, text)
    assert out["content"] is None
    assert calls(out) == [(f"f{i}", {"i": i}) for i in range(4)]
    assert [c["id"] for c in out["tool_calls"]] == ["id0", "id1", "id2", "id3"]


def test_hermes_nested_and_non_ascii_arguments_round_trip():
    out = parse(HERMES, hermes_call("search", NESTED))
    assert calls(out) == [("search", NESTED)]
    assert "東京" in out["tool_calls"][0]["function"]["arguments"]  # ensure_ascii=False


def test_marker_whitespace_is_flexible():
    out = parse(HERMES, '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>')
    assert calls(out) == [("f", {"a": 1})]
    out = parse(HERMES, '<tool_call>\n\n  {"name": "f", "arguments": {}}  \n\n</tool_call>')
    assert calls(out) == [("f", {})]


def test_reasoning_then_call_is_parsed():
    text = "<think>\nThe user wants weather.\n</think>\n\n" + hermes_call("get_weather", {"city": "Oslo"})
    out = parse(HERMES, text)
    assert out["reasoning_content"] == "The user wants weather."
    assert out["content"] is None
    assert calls(out) == [("get_weather", {"city": "Oslo"})]


def test_reasoning_opened_by_the_prompt():
    out = parse(HERMES, "Thinking hard.\n</think>\n\nThe answer is 4.", in_reasoning=True)
    assert out == {"role": "assistant", "content": "The answer is 4.", "reasoning_content": "Thinking hard."}


def test_unclosed_reasoning_is_all_reasoning():
    out = parse(HERMES, "<think>\nStill thinking about <tool_call> things")
    assert out["reasoning_content"] == "Still thinking about <tool_call> things"
    assert out["content"] == "" and "tool_calls" not in out
    out = parse(HERMES, "half a thought", in_reasoning=True)
    assert out["reasoning_content"] == "half a thought" and out["content"] == ""


def test_empty_reasoning_is_not_reported():
    out = parse(HERMES, "<think>\n\n</think>\n\nHi")
    assert out == {"role": "assistant", "content": "Hi"}


def test_reasoning_is_only_reported_for_specs_with_reasoning():
    out = parse(FUNCTIONARY_31, "<think>x</think>Hi")
    assert out == {"role": "assistant", "content": "<think>x</think>Hi"}


def test_json_in_prose_is_content_for_tagged_formats():
    text = 'Example: {"name": "get_weather", "arguments": {"city": "Paris"}}'
    assert parse(HERMES, text) == {"role": "assistant", "content": text}


@pytest.mark.parametrize(
    "text",
    [
        "The tool_call feature is great.",
        "A lone <tool_call> marker.",
        "Unclosed <tool_call>\n{\"name\": \"f\", \"arguments\": {}}",
        "Closing only </tool_call> here",
        "<tool_call>not json</tool_call>",
        "<tool_call>\n[1, 2]\n</tool_call>",
    ],
)
def test_the_word_or_a_lone_marker_stays_content(text):
    assert parse(HERMES, text) == {"role": "assistant", "content": text}


def test_malformed_call_followed_by_good_one():
    bad = '<tool_call>\n{"name": "f", "arguments": {"a": }\n</tool_call>'
    text = bad + "\n" + hermes_call("g", {"b": 2})
    out = parse(HERMES, text)
    assert out["content"] == bad  # no text lost
    assert calls(out) == [("g", {"b": 2})]
    # the malformed call was announced (a stream sends a call once its arguments start) as call 0
    assert out["tool_calls"][0]["id"] == "id1"


def test_unknown_tool_stays_content():
    text = hermes_call("rm_rf", {}) + "\n" + hermes_call("get_weather", {"city": "Rome"})
    out = parse(HERMES, text, tools("get_weather"))
    assert calls(out) == [("get_weather", {"city": "Rome"})]
    assert out["content"] == hermes_call("rm_rf", {})
    # without `tools`, any name is accepted
    assert len(parse(HERMES, text)["tool_calls"]) == 2


def test_content_around_calls_keeps_inner_spacing():
    out = parse(HERMES, "Before " + hermes_call("f", {}) + " after")
    assert out["content"] == "Before after"
    assert calls(out) == [("f", {})]


def test_arguments_as_a_json_string_are_accepted():
    out = parse(HERMES, '<tool_call>{"name": "f", "arguments": "{\\"a\\": [1]}"}</tool_call>')
    assert calls(out) == [("f", {"a": [1]})]


def test_extra_keys_make_it_not_a_call():
    text = '<tool_call>{"name": "f", "arguments": {}, "colour": "red"}</tool_call>'
    assert parse(HERMES, text)["content"] == text


def test_nan_is_not_json():
    text = '<tool_call>{"name": "f", "arguments": {"x": NaN}}</tool_call>'
    assert parse(HERMES, text)["content"] == text


def test_max_calls():
    spec = make_spec("one", {"call": {"begin": "<tool_call>\n", "end": "\n</tool_call>"}, "max_calls": 1})
    out = parse(spec, hermes_call("a", {}) + hermes_call("b", {}))
    assert calls(out) == [("a", {})]
    assert out["content"] == hermes_call("b", {})


# -- Llama 3.x -------------------------------------------------------------------------------


def test_llama3_bare_json_at_start():
    out = parse(LLAMA3, '  {"type": "function", "name": "get_weather", "parameters": {"city": "Lima"}}')
    assert out["content"] is None
    assert calls(out) == [("get_weather", {"city": "Lima"})]
    out = parse(LLAMA3, '{"name": "get_weather", "parameters": {}}')
    assert calls(out) == [("get_weather", {})]


@pytest.mark.parametrize(
    "text",
    [
        'Sure: {"name": "get_weather", "parameters": {"city": "Lima"}}',
        '{"type": "object", "name": "x", "parameters": {}}',  # optional field with another value
        '{"name": "Bob", "age": 42}',
    ],
)
def test_llama3_json_in_prose_is_content(text):
    assert parse(LLAMA3, text) == {"role": "assistant", "content": text}


def test_llama3_call_then_text():
    out = parse(LLAMA3, '{"name": "f", "parameters": {}}\nDone.')
    assert calls(out) == [("f", {})]
    assert out["content"] == "Done."


def test_llama3_builtin_python_call():
    out = parse(LLAMA3, '<|python_tag|>brave_search.call(query="today\'s news", count=3, safe=True)')
    assert calls(out) == [("brave_search", {"query": "today's news", "count": 3, "safe": True})]
    out = parse(LLAMA3, "<|python_tag|>wolfram_alpha.call(query=\"2+2\")", tools("wolfram_alpha"))
    assert calls(out) == [("wolfram_alpha", {"query": "2+2"})]


@pytest.mark.parametrize(
    "body",
    [
        "brave_search.call(__import__('os').system('x'))",
        "brave_search.call(query=open('f').read())",
        "unknown_tool.call(query='x')",
        "brave_search.run(query='x')",
        "brave_search.call(query='x'",
        "",
    ],
)
def test_llama3_python_call_accepts_literals_only(body):
    text = "<|python_tag|>" + body
    assert parse(LLAMA3, text) == {"role": "assistant", "content": text}


def test_llama3_builtin_tool_must_be_offered_when_tools_given():
    text = '<|python_tag|>brave_search.call(query="x")'
    assert parse(LLAMA3, text, tools("get_weather"))["content"] == text


# -- Functionary ----------------------------------------------------------------------------


def test_functionary_31_calls_and_raw_python():
    text = 'Hi<function=get_weather>{"city": "Oslo"}</function><function=noop>{}</function><|python_tag|>print("x")\n'
    out = parse(FUNCTIONARY_31, text)
    assert out["content"] == "Hi"
    assert calls(out) == [("get_weather", {"city": "Oslo"}), ("noop", {}), ("python", {"code": 'print("x")'})]


def test_functionary_31_missing_end_marker_stays_content():
    text = '<function=get_weather>{"city": "Oslo"}'
    assert parse(FUNCTIONARY_31, text)["content"] == text


def test_functionary_32_implicit_prefix_and_content_marker():
    out = parse(FUNCTIONARY_32, 'all\nHi there>>>get_weather\n{"city": "Paris"}')
    assert out["content"] == "Hi there"
    assert calls(out) == [("get_weather", {"city": "Paris"})]
    out = parse(FUNCTIONARY_32, 'get_weather\n{"city": "Paris"}\n>>>get_time\n{}')
    assert calls(out) == [("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert out["content"] is None


def test_functionary_32_raw_python_without_begin():
    out = parse(FUNCTIONARY_32, "python\nimport math\nprint(math.pi)")
    assert calls(out) == [("python", {"code": "import math\nprint(math.pi)"})]


def test_functionary_32_plain_text_and_lookalikes():
    assert parse(FUNCTIONARY_32, "Hello") == {"role": "assistant", "content": "Hello"}
    # `all` is a content marker only as a whole word
    out = parse(FUNCTIONARY_32, "allocate\n{}")
    assert calls(out) == [("allocate", {})]
    assert parse(FUNCTIONARY_32, "a >>> b")["content"] == "a >>> b"


# -- Mistral / Firefunction -----------------------------------------------------------------


def test_mistral_ids_come_from_the_output():
    text = '[TOOL_CALLS][{"name": "a", "arguments": {}, "id": "abcdefghi"}, {"name": "b", "arguments": {"k": 2}}]'
    out = parse_output(MISTRAL, text)
    assert calls(out) == [("a", {}), ("b", {"k": 2})]
    assert out["tool_calls"][0]["id"] == "abcdefghi"
    assert re.fullmatch(r"[A-Za-z0-9]{9}", out["tool_calls"][1]["id"])


def test_mistral_array_keeps_the_calls_before_a_bad_element():
    out = parse(MISTRAL, '[TOOL_CALLS][{"name": "a", "arguments": {}}, {"nom": "b"}]')
    assert calls(out) == [("a", {})] and out["content"] == ', {"nom": "b"}]'
    assert parse(MISTRAL, '[TOOL_CALLS][{"nom": "b"}]')["content"] == '[TOOL_CALLS][{"nom": "b"}]'
    assert parse(MISTRAL, "[TOOL_CALLS] and more")["content"] == "[TOOL_CALLS] and more"


def test_an_array_never_closed_gives_its_complete_calls():
    # a model that repeats calls until max_tokens: the complete ones count, the cut one is content
    one = '{"name": "a", "arguments": {"x": 1}}'
    out = parse(MISTRAL, "[TOOL_CALLS][" + ", ".join([one] * 3) + ', {"name": "a", "argum')
    assert calls(out) == [("a", {"x": 1})] * 3 and out["content"] == ', {"name": "a", "argum'
    out = parse(GENERIC, '{"tool_calls": [' + ", ".join([one] * 2))
    assert calls(out) == [("a", {"x": 1})] * 2 and out["content"] is None


def test_firefunction_leading_space_is_optional():
    for text in [' functools[{"name": "a", "arguments": {"x": 1}}]', 'functools[{"name": "a", "arguments": {"x": 1}}]']:
        out = parse(FIREFUNCTION, text)
        assert calls(out) == [("a", {"x": 1})] and out["content"] is None
    two = ' functools[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"y": "é"}}]'
    assert calls(parse(FIREFUNCTION, two)) == [("a", {}), ("b", {"y": "é"})]


def test_firefunction_word_inside_prose_is_content():
    text = "I like myfunctools[1] and functools.partial"
    assert parse(FIREFUNCTION, text)["content"] == text


# -- DeepSeek R1 ----------------------------------------------------------------------------


def test_deepseek_r1_reasoning_and_parallel_calls():
    text = (
        "<think>\nNeed two lookups.\n</think>\n\n<｜tool▁calls▁begin｜>"
        + r1_call("get_weather", {"city": "Paris"}) + "\n" + r1_call("search", NESTED)
        + "<｜tool▁calls▁end｜>"
    )
    out = parse(DEEPSEEK_R1, text)
    assert out["reasoning_content"] == "Need two lookups."
    assert out["content"] is None
    assert calls(out) == [("get_weather", {"city": "Paris"}), ("search", NESTED)]


def test_deepseek_r1_section_end_is_optional():
    out = parse(DEEPSEEK_R1, "<｜tool▁calls▁begin｜>" + r1_call("f", {"a": 1}))
    assert calls(out) == [("f", {"a": 1})]


def test_deepseek_r1_calls_only_count_inside_a_section():
    text = r1_call("f", {"a": 1})
    assert parse(DEEPSEEK_R1, text)["content"] == text
    assert parse(DEEPSEEK_R1, "<｜tool▁calls▁begin｜>oops")["content"] == "<｜tool▁calls▁begin｜>oops"


def test_section_end():
    spec = make_spec(
        "closed", {"section": {"begin": "<calls>", "end": "</calls>"}, "call": {"begin": "<c>", "end": "</c>"}}
    )
    good = '<calls><c>{"name": "f", "arguments": {}}</c><c>{"name": "g", "arguments": {}}</c></calls>'
    assert calls(parse(spec, good)) == [("f", {}), ("g", {})]
    # a section never closed (a model cut short) still gives its complete calls
    out = parse(spec, '<calls><c>{"name": "f", "arguments": {}}</c><c>{"name": "g"')
    assert calls(out) == [("f", {})] and out["content"] == '<c>{"name": "g"'
    assert parse(spec, "<calls><c>oops")["content"] == "<calls><c>oops"


# -- generic envelope -----------------------------------------------------------------------


def test_envelope_shapes():
    out = parse(GENERIC, '{"tool_calls": [{"name": "a", "arguments": {}, "id": "x1"}, {"name": "b", "arguments": {"n": 1}}]}')
    assert calls(out) == [("a", {}), ("b", {"n": 1})]
    assert [c["id"] for c in out["tool_calls"]] == ["x1", "id1"]
    out = parse(GENERIC, '\n{"tool_call": {"name": "a", "arguments": {"q": "ü"}}}\n')
    assert calls(out) == [("a", {"q": "ü"})] and out["content"] is None
    assert parse(GENERIC, '{"response": "Hello!"}') == {"role": "assistant", "content": "Hello!"}


@pytest.mark.parametrize(
    "text",
    ['{"answer": 42}', '{"tool_call": {"name": "a"}} extra', '{"tool_calls": "no"}', "{", '{"response": 3}'],
)
def test_envelope_anything_else_is_content(text):
    assert parse(GENERIC, text) == {"role": "assistant", "content": text}


def test_envelope_unknown_tool_is_content():
    text = '{"tool_call": {"name": "nope", "arguments": {}}}'
    assert parse(GENERIC, text, tools("a"))["content"] == text


# -- options ----------------------------------------------------------------------------------


def test_json_string_content_encoding():
    spec = make_spec("jsonc", {"call": {"begin": "<c>", "end": "</c>"}, "content_encoding": "json_string"})
    assert parse(spec, '"Hello\\nworld"')["content"] == "Hello\nworld"
    assert parse(spec, "not a json string")["content"] == "not a json string"


@pytest.mark.parametrize("style,pattern", [("random", r"call_[A-Za-z0-9]{24}"), ("alnum9", r"[A-Za-z0-9]{9}"), ("index", r"0")])
def test_id_styles(style, pattern):
    spec = make_spec("ids", {"call": {"begin": "<c>", "end": "</c>"}, "ids": {"style": style}})
    out = parse_output(spec, '<c>{"name": "f", "arguments": {}}</c>')
    assert re.fullmatch(pattern, out["tool_calls"][0]["id"])


def test_spec_keys_are_honoured():
    spec = make_spec(
        "keys",
        {"call": {"begin": "<c>", "end": "</c>"}, "json": {"name_key": "tool", "arguments_key": "args", "id_key": "cid"}},
    )
    out = parse(spec, '<c>{"cid": "c-7", "tool": "f", "args": {"z": null}}</c>')
    assert calls(out) == [("f", {"z": None})] and out["tool_calls"][0]["id"] == "c-7"


# -- robustness -------------------------------------------------------------------------------


GARBAGE = [
    "<tool_call>" * 50,
    "{" * 5000,
    "[" * 3000 + "]" * 3000,
    "<|python_tag|>" + "(" * 500,
    "\x00\udcff\ufffd",
    '<tool_call>{"name": "f", "arguments": {"a": "' + "\\" * 101,
    "[TOOL_CALLS]" + "[" * 2000,
    "<think>",
    "</think>",
    ">>>",
    ">>>all",
    '{"tool_calls": [' * 400,
]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("text", GARBAGE, ids=range(len(GARBAGE)))
def test_never_raises_and_loses_nothing(spec, text):
    out = parse(spec, text)
    assert out["role"] == "assistant"
    # an empty reasoning block / an empty content marker rightly parse to empty content
    opens_reasoning = spec.reasoning is not None and text.startswith("<think>")
    content_marker = spec is FUNCTIONARY_32 and text == ">>>all"
    if "tool_calls" not in out and not opens_reasoning and not content_marker:
        assert out["content"] == text


# -- the built-in specs, across formats ---------------------------------------------------------


def test_an_unclosed_reasoning_block_ends_at_a_well_formed_call():
    spec, tl = real("hermes"), real_tools("hermes")
    out = parse(spec, "Need weather.\n" + hermes_call("get_weather", {"city": "Rome"}), tl, in_reasoning=True)
    assert out["reasoning_content"] == "Need weather." and out["content"] is None
    assert calls(out) == [("get_weather", {"city": "Rome"})]
    r1 = real("deepseek-r1")
    text = "<｜tool▁calls▁begin｜>" + r1_call("get_weather", {"city": "Oslo"}) + "<｜tool▁calls▁end｜>"
    out = parse(r1, text, real_tools("deepseek-r1"), in_reasoning=True)
    assert "reasoning_content" not in out and calls(out) == [("get_weather", {"city": "Oslo"})]


@pytest.mark.parametrize(
    "name,text",
    [
        ("hermes", 'Use {"name": "get_weather", "arguments": {"city": "Paris"}} to call it.'),
        ("llama3", 'Send {"name": "get_weather", "parameters": {"city": "Rome"}} yourself.'),
        ("hermes", "The tool_call tag is <tool_call>."),
        ("hermes", "<tool_call>"),
        ("hermes", "</tool_call>"),
        ("functionary-v3.1", "<function=get_weather>"),
        ("mistral-nemo", "[TOOL_CALLS]"),
        ("deepseek-r1", "<｜tool▁calls▁begin｜>"),
        ("firefunction-v2", "functools is a Python module; functools[0] fails."),
    ],
)
def test_real_specs_prose_and_lone_markers_stay_content(name, text):
    assert parse(real(name), text, real_tools(name)) == {"role": "assistant", "content": text}


def test_real_malformed_call_then_good_call():
    spec, tl = real("hermes"), real_tools("hermes")
    bad = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"\n</tool_call>'
    out = parse(spec, bad + "\n" + hermes_call("get_time", {"timezone": "UTC"}), tl)
    assert out["content"] == bad
    assert calls(out) == [("get_time", {"timezone": "UTC"})]
    v31 = real("functionary-v3.1")
    out = parse(v31, '<function=get_weather>{"city": }</function><function=get_time>{"timezone": "UTC"}</function>',
                real_tools("functionary-v3.1"))
    assert out["content"] == '<function=get_weather>{"city": }</function>'
    assert calls(out) == [("get_time", {"timezone": "UTC"})]


def test_real_unknown_tool_stays_content():
    text = hermes_call("delete_everything", {})
    assert parse(real("hermes"), text, real_tools("hermes"))["content"] == text
    text = '{"name": "delete_everything", "parameters": {}}'
    assert parse(real("llama3"), text, real_tools("llama3"))["content"] == text


# -- issue 10: nothing dropped, nothing that is not JSON ------------------------------------------


def test_envelope_keeps_what_it_does_not_know_as_content():
    for text in ['{"response": "Hi", "mood": "happy"}', '{"tool_call": {"name": "a", "arguments": {}}, "note": 1}']:
        out = parse(GENERIC, text)
        assert "tool_calls" not in out or out["content"], out  # the unknown key is not dropped
        assert "mood" in (out["content"] or "") or "note" in (out["content"] or "")


def test_arguments_and_parameters_together_are_not_a_call():
    for spec, text in [
        (GENERIC, '{"tool_call": {"name": "a", "arguments": {"x": 1}, "parameters": {"y": 2}}}'),
        (HERMES, '<tool_call>\n{"name": "a", "arguments": {"x": 1}, "parameters": {"y": 2}}\n</tool_call>'),
    ]:
        assert parse(spec, text) == {"role": "assistant", "content": text}


@pytest.mark.parametrize("number", ["1e999", "-1e400", "1" + "0" * 400, "NaN", "Infinity"])
def test_numbers_a_double_cannot_hold_are_not_arguments(number):
    text = '<tool_call>\n{"name": "f", "arguments": {"x": ' + number + "}}\n</tool_call>"
    assert parse(HERMES, text)["content"] == text


def test_arguments_are_the_models_own_json_text():
    out = parse(HERMES, '<tool_call>\n{"name": "f", "arguments": {"b" :1,  "a":[ 1.50 ]}}\n</tool_call>')
    assert out["tool_calls"][0]["function"]["arguments"] == '{"b" :1,  "a":[ 1.50 ]}'
    # a JSON string holding the arguments gives the JSON text it holds
    out = parse(HERMES, '<tool_call>\n{"name": "f", "arguments": "{\\"a\\": 1}"}\n</tool_call>')
    assert out["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'


def test_names_are_the_offered_tools_longest_first():
    odd = [{"type": "function", "function": {"name": n}} for n in ("get", "get weather/ü", "get weather")]
    out = parse(FUNCTIONARY_31, '<function=get weather/ü>{"c": 1}</function><function=get>{}</function>', odd)
    assert calls(out) == [("get weather/ü", {"c": 1}), ("get", {})]
    assert parse(FUNCTIONARY_31, '<function=get weather/x>{}</function>', odd)["content"].startswith("<function=")


def test_a_response_format_reply_is_content_whatever_its_shape():
    for spec, text in [(LLAMA3, '{"name": "f", "parameters": {}}'), (GENERIC, '{"response": "x"}'),
                       (HERMES, '<think>ok</think>\n{"tool_call": 1}')]:
        out = parse_output(spec, text, calls=False)
        assert "tool_calls" not in out and out["content"] == text.split("</think>\n")[-1]
    parser = StreamParser(HERMES, calls=False)
    streamed = [d for ch in '<think>a</think>{"x": 1}' for d in parser.feed(ch)]
    late, message = parser.finish()
    assert message == {"role": "assistant", "content": '{"x": 1}', "reasoning_content": "a"}
    assert "".join(d.get("content", "") for d in streamed + late) == '{"x": 1}'
