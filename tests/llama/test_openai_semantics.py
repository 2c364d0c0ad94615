"""OpenAI semantics ChatModel and the server keep: response_format, schema warnings, the usage
chunk, abandoned calls, errors when generation cannot go on, the tool_use template only with tools."""

from __future__ import annotations

import json

import jsonschema
import pytest

from chatformats.cli.demo import DEMO_TOOLS
from chatformats.hooks import get_registry
from chatformats.llama import ChatModel
from chatformats.testing.templates import template_for, templates_dir
from chatformats.testing.tiny_model import build_tiny_model, ensure_tiny_model

USER = [{"role": "user", "content": "Weather in Oslo?"}]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 10}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def hermes() -> ChatModel:
    template, _ = template_for(get_registry().get("hermes"), templates_dir())
    return ChatModel(str(ensure_tiny_model()), "hermes", template=template)


@pytest.mark.parametrize("seed", range(3))
def test_response_format_json_schema_constrains_the_reply(hermes, seed):
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA}}
    result = hermes.chat(USER, response_format=fmt, max_tokens=200, seed=seed)
    message = result["choices"][0]["message"]
    assert "tool_calls" not in message
    jsonschema.validate(json.loads(message["content"]), SCHEMA)
    assert result["choices"][0]["finish_reason"] == "stop"
    streamed = list(hermes.chat(USER, response_format=fmt, max_tokens=200, seed=seed, stream=True))
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in streamed) == message["content"]


def test_response_format_json_object_is_an_object(hermes):
    result = hermes.chat(USER, response_format={"type": "json_object"}, max_tokens=120, seed=1)
    content = result["choices"][0]["message"]["content"]
    assert isinstance(json.loads(content), dict)


def test_response_format_with_callable_tools_is_refused(hermes):
    from chatformats.prompt import RequestError

    with pytest.raises(RequestError, match="response_format"):
        hermes.prepare(USER, DEMO_TOOLS, "auto", response_format={"type": "json_object"})


def test_schema_keywords_the_grammar_does_not_enforce_are_named(hermes):
    tools = [{"type": "function", "function": {"name": "pick", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}, "required": ["n"]}}}]
    result = hermes.chat(USER, tools, "required", max_tokens=60, seed=1)
    assert any("multipleOf" in w and "pick" in w for w in result["chatformats"]["warnings"])
    last = list(hermes.chat(USER, tools, "required", max_tokens=60, seed=1, stream=True))[-1]
    assert any("multipleOf" in w for w in last["chatformats"]["warnings"])


def test_usage_chunk_only_when_asked(hermes):
    plain = list(hermes.chat(USER, max_tokens=4, seed=1, stream=True))
    assert all("usage" not in c for c in plain)
    asked = list(hermes.chat(USER, max_tokens=4, seed=1, stream=True, stream_options={"include_usage": True}))
    assert asked[-1]["choices"] == [] and asked[-1]["usage"]["completion_tokens"] == 4
    assert all("usage" not in c for c in asked[:-1])


def test_a_call_cut_by_max_tokens_is_reported_as_abandoned(hermes):
    cut = 0
    for limit in range(10, 70, 4):  # cut the same generation at growing lengths
        chunks = list(hermes.chat(USER, DEMO_TOOLS, "required", max_tokens=limit, seed=5, stream=True))
        last = chunks[-1]
        if last["choices"][0]["finish_reason"] != "length":
            break
        announced = {call["index"] for c in chunks for call in c["choices"][0]["delta"].get("tool_calls") or []}
        whole = hermes.chat(USER, DEMO_TOOLS, "required", max_tokens=limit, seed=5)["choices"][0]["message"]
        complete = len(whole.get("tool_calls") or [])
        assert set(last.get("chatformats", {}).get("abandoned_calls", [])) == {i for i in announced if i >= complete}
        cut += len(announced) > complete
    assert cut, "no seed announced a call before max_tokens: the test proves nothing"


def test_no_token_left_is_an_error_not_a_stop(hermes):
    tag = hermes.single_token("<tool_call>")
    result = hermes.chat(USER, DEMO_TOOLS, "required", max_tokens=20, seed=1, logit_bias={tag: float("-inf")})
    assert result["choices"][0]["finish_reason"] == "error"
    assert "no token" in result["chatformats"]["error"]


def test_the_tool_use_template_only_with_tools(tmp_path):
    path = build_tiny_model(tmp_path / "two-templates.gguf", chat_template="PLAIN {{ messages[0].content }}",
                            extra_metadata={"tokenizer.chat_template.tool_use": "TOOLS {{ messages[0].content }}"})
    model = ChatModel(str(path), "hermes")
    assert model.prepare(USER).prompt.startswith("PLAIN")
    assert model.prepare(USER, DEMO_TOOLS).prompt.startswith("TOOLS")
    assert model.prepare(USER, DEMO_TOOLS, "none").prompt.startswith("PLAIN")
