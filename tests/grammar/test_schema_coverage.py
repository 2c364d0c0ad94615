"""JSON Schema coverage: every keyword is enforced by the grammar or named in a warning, and a schema
no value satisfies is an error naming the tool and the keyword. What the tiny model writes under
each grammar (random walks, several seeds) validates with the `jsonschema` package."""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import urlsplit

import jsonschema
import pytest

llama = pytest.importorskip("chatformats.llama")

from chatformats.grammar import GbnfBuilder, SchemaError, reply_grammar  # noqa: E402
from chatformats.hooks import api, get_registry  # noqa: E402
from chatformats.prompt import RequestError  # noqa: E402
from chatformats.testing.tiny_model import tiny_vocab  # noqa: E402

HERMES = get_registry().get("hermes")


def obj(properties: dict, required=None, **more) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required, **more}


COVERED = {
    "pattern": obj({"code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
                    "groups": {"type": "string", "pattern": "^a(b|cd){1,3}e$"},
                    "escapes": {"type": "string", "pattern": '^["\\\\\\n]x\\d?$'}}),
    "format": obj({"date": {"type": "string", "format": "date"}, "time": {"type": "string", "format": "time"},
                   "date-time": {"type": "string", "format": "date-time"}, "uuid": {"type": "string", "format": "uuid"},
                   "email": {"type": "string", "format": "email"}, "ipv4": {"type": "string", "format": "ipv4"},
                   "uri": {"type": "string", "format": "uri"}}),
    "number bounds": obj({"x": {"type": "number", "minimum": -1.5, "maximum": 2.25},
                          "y": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                          "z": {"type": "integer", "minimum": 3, "exclusiveMaximum": 9},
                          "w": {"type": "number", "minimum": 100}}),
    "lengths": obj({"s": {"type": "string", "minLength": 2, "maxLength": 4},
                    "a": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer"}}}),
    "properties count": {"type": "object", "minProperties": 2, "maxProperties": 3,
                         "properties": {k: {"type": "integer"} for k in "abcd"}},
    "additionalProperties": obj({"a": {"type": "integer"}}, [], additionalProperties={"type": "boolean"}, maxProperties=2),
    "refs": {"$defs": {"leaf": {"type": "string", "maxLength": 3}, "pair": obj({"l": {"$ref": "#/$defs/leaf"}, "n": {"anyOf": [{"$ref": "#/$defs/pair"}, {"type": "null"}]}})},
             **obj({"root": {"$ref": "#/$defs/pair"}})},
    "anyOf and oneOf": obj({"v": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "string", "maxLength": 3}]},
                            "w": {"anyOf": [{"type": "boolean"}, {"type": "null"}]}}),
    "allOf": {"allOf": [obj({"a": {"type": "integer", "minimum": 0}}), {"properties": {"a": {"maximum": 5}}}]},
    "enum and const": obj({"e": {"enum": [1, "two", None, {"x": 1}]}, "c": {"const": "fixed"},
                           "typed": {"type": "string", "enum": ["a", 1, "b"]}}),
    "tuples": obj({"t": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string", "maxLength": 2}],
                         "items": False, "minItems": 2}}),
}

CHECKER = jsonschema.FormatChecker()


@CHECKER.checks("time", raises=ValueError)
def _time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        return False
    return bool(datetime.fromisoformat("2000-01-01T" + value.replace("Z", "+00:00")))


@CHECKER.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    date, _, time = value.partition("T")
    return bool(re.fullmatch(r"\d{4}-\d\d-\d\d", date)) and _time(time) and bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


@CHECKER.checks("uri")
def _uri(value: object) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is None or (parts.scheme in ("http", "https") and bool(parts.netloc))


def validate(value, schema) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=CHECKER).validate(value)


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    from chatformats.llama.engine import Engine

    return Engine(tiny_model_path, n_ctx=2048)


@pytest.mark.parametrize("keyword", sorted(COVERED))
def test_replies_under_the_grammar_validate(engine, keyword):
    schema = COVERED[keyword]
    plan = reply_grammar(HERMES.spec, {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}})
    assert all("`oneOf`" in w for w in plan.warnings) and not plan.lazy
    prompt = engine.tokenize_prompt([("<|im_start|>user\nAnswer in JSON.<|im_end|>\n<|im_start|>assistant\n", True)])
    finished = 0
    for seed in range(4):
        events = list(engine.generate(prompt, grammar=plan.gbnf, max_tokens=700, seed=seed, temperature=1.0))
        if events[-1].finish_reason != "stop":
            continue  # cut short: nothing to validate
        finished += 1
        # the reply (after any reasoning) is the content when no tool may be called
        message = api.parse(HERMES, "".join(e.text for e in events), [])
        validate(json.loads(message["content"]), schema)
    assert finished >= 2


def test_calls_under_a_tool_grammar_validate(engine):
    tools = [{"type": "function", "function": {"name": name, "parameters": schema}} for name, schema in COVERED.items()
             if schema.get("type") == "object"]
    prompt = engine.tokenize_prompt([("<|im_start|>user\nCall a tool.<|im_end|>\n<|im_start|>assistant\n", True)])
    made = 0
    for seed in range(6):
        plan = api.plan(HERMES, tools, "required", parallel_tool_calls=False)
        events = list(engine.generate(prompt, grammar=plan.gbnf, max_tokens=500, seed=seed, temperature=1.0))
        message = api.parse(HERMES, "".join(e.text for e in events), tools)
        for call in message.get("tool_calls") or []:
            validate(json.loads(call["function"]["arguments"]), COVERED[call["function"]["name"]])
            made += 1
    assert made >= 3


# -- acceptance, exactly ------------------------------------------------------------------------


def accepts(schema, text: str) -> bool:
    builder = GbnfBuilder()
    gbnf = builder.render(builder.add_schema(schema, "v"))
    return llama.accepts(gbnf, text, vocab=tiny_vocab())


@pytest.mark.parametrize(
    "schema,good,bad",
    [
        ({"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"}, ['"AB-123"'], ['"AB-12"', '"ab-123"', '"AB-1234"']),
        ({"type": "string", "pattern": 'a"b'}, [r'"xa\"by"', r'"a\"b"'], ['"ab"']),  # searched, not matched
        ({"type": "string", "pattern": "^(?:ab|[^a-c\\s])+$"}, ['"abx"', '"zz"', '"é"'], ['"a"', '"x y"', '""']),
        ({"type": "string", "format": "date"}, ['"2024-02-28"', '"1999-12-31"'], ['"2024-02-30"', '"2024-13-01"', '"0000-01-01"']),
        ({"type": "string", "format": "uuid"}, ['"123e4567-e89b-12d3-a456-426614174000"'], ['"123e4567"']),
        ({"type": "number", "minimum": -1.5, "maximum": 2.25}, ["-1.5", "2.25", "0", "2.2499", "-0.75"], ["2.26", "-1.51", "3", "1e1"]),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, ["0.5", "0.001"], ["0", "1", "0.0", "1.0"]),
        ({"type": "number"}, ["1e99", "1e-300", "-2.5E+3"], ["1e999", "1e100", "NaN", "Infinity"]),
        ({"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {"a": {}, "b": {}}},
         ['{"a": 1}', '{"b": 2}'], ["{}", '{"a": 1, "b": 2}']),
        ({"type": "integer", "nullable": True}, ["3", "null"], ['"3"']),
    ],
)
def test_keywords_are_enforced(schema, good, bad):
    for text in good:
        assert accepts(schema, text), text
        if "nullable" not in schema:
            validate(json.loads(text), schema)
    for text in bad:
        assert not accepts(schema, text), text


# -- warnings and errors -------------------------------------------------------------------------


def plan_for(schema) -> list[str]:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": schema}}]
    return api.plan(HERMES, tools, "auto").warnings


@pytest.mark.parametrize(
    "keyword,schema",
    [
        ("multipleOf", {"type": "integer", "multipleOf": 5}),
        ("uniqueItems", {"type": "array", "uniqueItems": True}),
        ("contains", {"type": "array", "contains": {"type": "integer"}}),
        ("if", {"if": {"type": "string"}, "then": {"maxLength": 2}}),
        ("not", {"not": {"type": "null"}}),
        ("dependentRequired", {"type": "object", "dependentRequired": {"a": ["b"]}}),
        ("propertyNames", {"type": "object", "propertyNames": {"maxLength": 3}}),
        ("patternProperties", {"type": "object", "patternProperties": {"^x": {"type": "integer"}}}),
        ("pattern", {"type": "string", "pattern": "^(?=a)\\w+$"}),
        ("format: hostname", {"type": "string", "format": "hostname"}),
        ("oneOf", {"oneOf": [{"type": "integer"}, {"type": "number"}]}),
        ("pattern", {"type": "string", "format": "date", "pattern": "^2"}),
    ],
)
def test_what_is_not_enforced_is_named_for_its_tool(keyword, schema):
    warnings = plan_for({"type": "object", "properties": {"v": schema}, "required": ["v"]})
    assert any(w.startswith("tools[0] get_weather: `" + keyword + "` at properties.v") for w in warnings), warnings


def test_a_schema_without_such_keywords_gives_no_warning():
    assert plan_for(COVERED["format"]) == [] and plan_for(COVERED["refs"]) == []


@pytest.mark.parametrize(
    "keyword,schema",
    [
        ("minimum", {"type": "integer", "minimum": 5, "maximum": 3}),
        ("minimum", {"type": "number", "minimum": 5, "maximum": 3}),
        ("enum", {"enum": []}),
        ("enum", {"type": "integer", "enum": ["a", "b"]}),
        ("minLength", {"type": "string", "minLength": 5, "maxLength": 3}),
        ("minItems", {"type": "array", "minItems": 3, "maxItems": 2}),
        ("maxProperties", {"type": "object", "maxProperties": 1, "required": ["a", "b"],
                           "properties": {"a": {}, "b": {}}}),
        ("required", {"type": "object", "properties": {}, "required": ["a"], "additionalProperties": False}),
        ("type", {"allOf": [{"type": "string"}, {"type": "integer"}]}),
        ("const", {"allOf": [{"const": 1}, {"const": 2}]}),
        ("pattern", {"type": "string", "pattern": "(unclosed"}),
    ],
)
def test_unsatisfiable_schemas_are_errors_naming_tool_and_keyword(keyword, schema):
    parameters = {"type": "object", "properties": {"v": schema}, "required": ["v"]}
    with pytest.raises(SchemaError, match=re.escape("tools[0] get_weather: ") + ".*" + re.escape(f"`{keyword}`")):
        GbnfBuilder().add_arguments(parameters, "get_weather", label="tools[0] get_weather")
    with pytest.raises(RequestError, match="tools\\[0\\] get_weather"):
        plan_for(parameters)


@pytest.mark.parametrize("parameters", [{"type": "string"}, {"type": ["array", "null"]}, {"enum": [1, 2]}])
def test_parameters_that_are_not_an_object_are_refused_at_validation(parameters):
    from chatformats.prompt import validate_request

    tools = [{"type": "function", "function": {"name": "lookup", "parameters": parameters}}]
    with pytest.raises(RequestError, match="tools\\[0\\] lookup: parameters must describe a JSON object"):
        validate_request({"messages": [{"role": "user", "content": "hi"}], "tools": tools})


# -- response_format ---------------------------------------------------------------------------


USER = [{"role": "user", "content": "hi"}]


def test_json_object_reply_is_any_object_after_optional_reasoning():
    plan = api.plan_request(HERMES, {"messages": USER, "response_format": {"type": "json_object"}})
    assert not plan.lazy
    vocab = tiny_vocab()
    assert llama.accepts(plan.gbnf, '{"a": [1, "x"]}', vocab=vocab)
    assert llama.accepts(plan.gbnf, '<think>hmm</think>\n{"a": 1}', vocab=vocab)
    assert not llama.accepts(plan.gbnf, "Sure!", vocab=vocab) and not llama.accepts(plan.gbnf, "[1]", vocab=vocab)


def test_json_schema_reply_follows_the_schema_with_its_warnings():
    response_format = {"type": "json_schema", "json_schema": {"name": "weather", "strict": True, "schema": obj(
        {"city": {"type": "string", "maxLength": 10}, "n": {"type": "integer", "multipleOf": 2}})}}
    plan = api.plan_request(HERMES, {"messages": USER, "response_format": response_format})
    assert plan.warnings == ["response_format weather: `multipleOf` at properties.n is not enforced by the grammar"]
    assert llama.accepts(plan.gbnf, '{"city": "Oslo", "n": 4}', vocab=tiny_vocab())
    assert not llama.accepts(plan.gbnf, '{"city": "Oslo"}', vocab=tiny_vocab())
    # with tool_choice "none" the tools are out of play and the reply follows the format
    tools = [{"type": "function", "function": {"name": "f"}}]
    request = {"messages": USER, "tools": tools, "tool_choice": "none", "response_format": response_format}
    assert api.plan_request(HERMES, request).gbnf == plan.gbnf
    assert api.plan_request(HERMES, {"messages": USER, "response_format": {"type": "text"}}) is None


@pytest.mark.parametrize(
    "response_format,message",
    [
        ("json", "response_format must be"),
        ({"type": "yaml"}, "response_format.type must be text, json_object or json_schema"),
        ({"type": "json_schema"}, "response_format.json_schema must be an object"),
        ({"type": "json_schema", "json_schema": {"schema": {}}}, "json_schema.name must be a non-empty string"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": []}}, "schema must be a JSON Schema object"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "minimum": 2, "maximum": 1}}},
         "response_format x: `minimum`"),
    ],
)
def test_malformed_response_formats_are_request_errors(response_format, message):
    with pytest.raises(RequestError, match=re.escape(message)):
        api.plan_request(HERMES, {"messages": USER, "response_format": response_format})


def test_response_format_with_tools_in_play_is_refused():
    tools = [{"type": "function", "function": {"name": "f"}}]
    request = {"messages": USER, "tools": tools, "response_format": {"type": "json_object"}}
    with pytest.raises(RequestError, match='cannot be combined with tools.*tool_choice "none"'):
        api.plan_request(HERMES, request)
