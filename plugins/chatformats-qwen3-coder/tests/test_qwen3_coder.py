import json

from chatformats.hooks import api
from chatformats_qwen3_coder.xml_calls import convert, parse_xml_calls

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {
                "type": "object",
                "properties": {
                    "n": {"type": "integer"},
                    "x": {"type": "number"},
                    "b": {"type": "boolean"},
                    "o": {"type": "object"},
                    "s": {"type": "string"},
                    "u": {"type": ["integer", "string"]},
                },
            },
        },
    }
]


def test_registered_from_this_distribution(chatformats_registry):
    assert "chatformats-qwen3-coder 0.1.0" in chatformats_registry.get("qwen3-coder").plugin


def test_values_take_the_schema_types():
    assert convert("3", {"type": "integer"}) == 3
    assert convert("2.5", {"type": "number"}) == 2.5
    assert convert("true", {"type": "boolean"}) is True
    assert convert('{"a": [1]}', {"type": "object"}) == {"a": [1]}
    assert convert("007", {"type": "string"}) == "007"
    assert convert("abc", {"type": ["integer", "string"]}) == "abc"
    assert convert("not a number", {"type": "integer"}) == "not a number"


def test_parse_through_the_hook(chatformats_registry):
    text = (
        "<tool_call>\n<function=f>\n<parameter=n>\n42\n</parameter>\n<parameter=s>\nline 1\nline 2\n</parameter>\n"
        "</function>\n</tool_call>"
    )
    message = api.parse("qwen3-coder", text, TOOLS, registry=chatformats_registry)
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"n": 42, "s": "line 1\nline 2"}


def test_unknown_function_and_broken_blocks_stay_content():
    text = "<tool_call>\n<function=nope>\n</function>\n</tool_call> and <tool_call> unclosed"
    assert parse_xml_calls(text, TOOLS) == {"role": "assistant", "content": text}


def test_grammar_accepts_typed_values_and_rejects_wrong_types(chatformats_registry):
    from chatformats.llama import accepts
    from chatformats.testing.tiny_model import tiny_vocab

    plan = api.plan("qwen3-coder", TOOLS, "required", registry=chatformats_registry)
    good = "<tool_call>\n<function=f>\n<parameter=n>\n42\n</parameter>\n</function>\n</tool_call>"
    bad = "<tool_call>\n<function=f>\n<parameter=n>\nforty\n</parameter>\n</function>\n</tool_call>"
    assert accepts(plan.gbnf, good, vocab=tiny_vocab())
    assert not accepts(plan.gbnf, bad, vocab=tiny_vocab())


def test_conforms(chatformats_conformance):
    chatformats_conformance("qwen3-coder", kinds=["one_call", "parallel_calls", "content_only", "content_and_call"])


def test_nothing_is_dropped_and_nothing_raises():
    json_body = '<tool_call>\n<function=f>\n{"n": 1, "s": "x"}\n</function>\n</tool_call>'
    message = parse_xml_calls(json_body, TOOLS)
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"n": 1, "s": "x"}
    between = "<tool_call>\n<function=f>\n<parameter=n>\n1\n</parameter>\nstray text\n</function>\n</tool_call>"
    assert parse_xml_calls(between, TOOLS) == {"role": "assistant", "content": between}
    for value in ("nan", "inf", "-Infinity", "1e999"):
        assert convert(value, {"type": "number"}) == value  # text, never NaN or Infinity
    deep = "<tool_call>\n<function=f>\n<parameter=o>\n" + "[" * 100_000 + "\n</parameter>\n</function>\n</tool_call>"
    assert json.loads(parse_xml_calls(deep, TOOLS)["tool_calls"][0]["function"]["arguments"])["o"].startswith("[[[")
