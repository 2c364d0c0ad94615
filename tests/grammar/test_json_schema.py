"""JSON Schema -> GBNF: acceptance checked with llama.cpp's own grammar engine, conformance with jsonschema."""

from __future__ import annotations

import json
import random

import pytest

jsonschema = pytest.importorskip("jsonschema")
llama = pytest.importorskip("chatformats.llama")

from chatformats.testing.tiny_model import tiny_vocab  # noqa: E402


def accepts(gbnf: str, text: str) -> bool:
    """llama.cpp's grammar engine on the tiny model's vocabulary."""
    return llama.accepts(gbnf, text, vocab=tiny_vocab())


from chatformats.grammar.gbnf import gbnf_literal, sanitize_name, until_rule  # noqa: E402
from chatformats.grammar.json_schema import GbnfBuilder, integer_range  # noqa: E402


def grammar_for(schema) -> str:
    builder = GbnfBuilder()
    gbnf = builder.render(builder.add_schema(schema, "value-rule"))
    llama.validate_gbnf(gbnf)
    return gbnf


def is_valid(schema, text: str) -> bool:
    try:
        jsonschema.validate(json.loads(text), schema)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def check(schema, accepted: list[str], rejected: list[str]) -> None:
    """Each accepted text is taken by llama.cpp and valid JSON for the schema; each rejected one is not taken."""
    gbnf = grammar_for(schema)
    for text in accepted:
        assert accepts(gbnf, text), f"rejected {text!r}\n{gbnf}"
        assert is_valid(schema, text), f"grammar accepts invalid {text!r}"
    for text in rejected:
        assert not accepts(gbnf, text), f"accepted {text!r}\n{gbnf}"


# -- integers ------------------------------------------------------------------------------------

INTEGER_SCHEMAS = [
    {"type": "integer", "minimum": 0, "maximum": 10},
    {"type": "integer", "minimum": -37, "maximum": 1234},
    {"type": "integer", "minimum": 7},
    {"type": "integer", "maximum": -3},
    {"type": "integer", "maximum": 250},
    {"type": "integer", "minimum": -120},
    {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
    {"type": "integer", "minimum": 1.5, "maximum": 99.9},
    {"type": "integer", "minimum": 5, "exclusiveMinimum": True, "maximum": 9},  # draft 4
    {"type": "integer", "minimum": -1000, "maximum": -990},
    {"type": "integer", "minimum": 99, "maximum": 1001},
]


@pytest.mark.parametrize("schema", INTEGER_SCHEMAS, ids=lambda s: json.dumps(s))
def test_integer_bounds_are_exact(schema):
    gbnf = grammar_for(schema)
    # draft 4 spells exclusive bounds as booleans
    draft = jsonschema.Draft4Validator if schema.get("exclusiveMinimum") is True else jsonschema.Draft202012Validator
    validator = draft(schema)
    for value in list(range(-1500, 1500)) + [10**12, -(10**12), 10**19]:
        assert accepts(gbnf, str(value)) == validator.is_valid(value), (value, gbnf)
    for text in ("01", "-0", "1.0", "+1", "1e2", ""):
        assert not accepts(gbnf, text) or is_valid(schema, text), text


def test_integer_range_random_bounds():
    rng = random.Random(7)
    for _ in range(40):
        lo, hi = sorted(rng.randint(-99999, 99999) for _ in range(2))
        gbnf = GbnfBuilder().render(integer_range(lo, hi))
        probes = {lo, hi, lo - 1, hi + 1, 0, -1, 1} | {rng.randint(lo - 500, hi + 500) for _ in range(40)}
        for value in probes:
            assert accepts(gbnf, str(value)) == (lo <= value <= hi), (lo, hi, value)


def test_unbounded_integer_and_number():
    check({"type": "integer"}, ["0", "-12", "123456789"], ["1.5", "01", "abc", '"1"'])
    check(
        {"type": "number"},
        ["0", "-1.5", "3.25e-2", "10E+3", "7"],
        ["1.", ".5", "--1", "01", "1e", "NaN"],
    )


def test_number_with_non_negative_minimum_has_no_sign():
    check({"type": "number", "minimum": 0}, ["0", "2.5"], ["-1", "-0.5"])


# -- strings -------------------------------------------------------------------------------------


def test_strings_exclude_raw_control_characters():
    gbnf = grammar_for({"type": "string"})
    for code in list(range(0x20)) + [0x7F]:
        assert not accepts(gbnf, f'"a{chr(code)}b"'), hex(code)


def test_strings_take_json_escapes_and_unicode():
    check(
        {"type": "string"},
        [r'"a\"b"', r'"back\\slash"', r'"\/"', r'"\b\f\n\r\t"', r'"\u00e9\u20AC"', '"héllo ✓ 日本 😀"', '""'],
        # a \u escape of a surrogate decodes to no character: a model writes the character itself
        [r'"\a"', r'"\x41"', r'"\u12"', '"unterminated', "'single'", '"a"b"', r'"\uD83D"', r'"\udc00"'],
    )


def test_string_length_counts_characters_and_escapes():
    schema = {"type": "string", "minLength": 2, "maxLength": 4}
    check(schema, ['"ab"', '"abcd"', r'"a\n"', '"éé"'], ['"a"', '"abcde"', '""'])


def test_string_format_wins_over_a_pattern_beside_it():
    schema = {"type": "string", "pattern": "^[0-9]+$", "format": "date"}
    builder = GbnfBuilder()
    gbnf = builder.render(builder.add_schema(schema, "value-rule", label="t"))
    assert accepts(gbnf, '"2024-02-28"') and not accepts(gbnf, '"anything"') and not accepts(gbnf, '"2024-02-30"')
    assert builder.warnings == ["t: `pattern` is not enforced next to `format: date`"]


# -- objects -------------------------------------------------------------------------------------

WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
    },
    "required": ["location", "days"],
}


def test_object_properties_in_declared_order_with_optional_members():
    check(
        WEATHER,
        [
            '{"location": "Paris", "days": 3}',
            '{"location":"Paris","unit":"celsius","days":14}',
            '{\n  "location": "Paris",\n  "days": 1\n}',
        ],
        [
            '{"location": "Paris"}',  # days is required
            '{"location": "Paris", "days": 15}',
            '{"location": "Paris", "days": 0}',
            '{"location": "Paris", "unit": "kelvin", "days": 2}',
            '{"location": "Paris", "days": 2, "extra": 1}',  # no additional properties
            '{"location": "Paris",, "days": 2}',
            '{"location": "Paris", "days": 2,}',
        ],
    )


def test_all_optional_members_comma_placement():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}}
    check(
        schema,
        ["{}", '{"a": 1}', '{"b": 2}', '{"c": 3}', '{"a": 1, "c": 3}', '{"a":1,"b":2,"c":3}'],
        ['{,"b": 2}', '{"a": 1,}', '{"a": 1 "b": 2}'],
    )


def test_additional_properties():
    check(
        {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": True},
        ['{"a": 1, "zz": [1, {"x": null}]}', '{"other": "x"}'],
        ['{"a": "no"}'],
    )
    check(
        {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}},
        ['{"a": 1, "flag": true}', '{"flag": false, "more": true}'],
        ['{"a": 1, "flag": 1}'],
    )
    check({"type": "object"}, ['{"x": 1, "y": [true]}', "{}"], ["[]"])
    check({"type": "object", "properties": {}}, ["{}"], ['{"x": 1}'])


def test_nested_arrays_and_items():
    schema = {
        "type": "array",
        "items": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["n"]},
        "minItems": 1,
        "maxItems": 3,
    }
    check(
        schema,
        ['[{"n": 0}]', '[{"n": 1}, {"n": 2}, {"n": 9}]', '[ {"n": 5} ]'],
        ["[]", '[{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]', '[{"n": 10}]', '[{"n": 1},]'],
    )
    check({"type": "array", "maxItems": 1}, ["[]", "[1]"], ["[1, 2]"])
    check({"type": "array", "items": {"type": "string"}}, ["[]", '["a", "b"]'], ["[1]"])


def test_tuple_items():
    schema = {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False}
    check(schema, ["[]", "[1]", '[1, "a"]'], ['["a"]', '[1, "a", 2]'])


# -- combinations --------------------------------------------------------------------------------


def test_enum_and_const_of_any_json_value():
    schema = {"enum": ["red", 1, None, True, {"k": [1, "x"]}, [1, 2]]}
    check(
        schema,
        ['"red"', "1", "null", "true", '{"k": [1, "x"]}', '{"k":[1,"x"]}', "[1,2]", "[ 1, 2 ]"],
        ['"blue"', "2", "false", '{"k": [1]}', "[2, 1]"],
    )
    check({"const": "fixed"}, ['"fixed"'], ['"other"'])
    check({"const": {"a": 1}}, ['{"a": 1}'], ['{"a": 2}'])


def test_any_of_one_of_and_type_lists():
    check(
        {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 5}, {"type": "string", "maxLength": 2}]},
        ["3", '"ab"'],
        ["6", '"abc"', "null"],
    )
    check({"oneOf": [{"type": "boolean"}, {"type": "null"}]}, ["true", "null"], ["0"])
    check({"type": ["string", "null"]}, ['"x"', "null"], ["1"])
    check({"type": ["integer", "boolean"], "minimum": 2}, ["2", "false"], ["1"])


def test_all_of_merges_objects():
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}}, "required": ["b"]},
        ]
    }
    check(schema, ['{"a": 1, "b": "x"}'], ['{"a": 1}', '{"b": "x"}'])


def test_refs_to_defs_and_definitions_including_recursion():
    schema = {
        "type": "object",
        "properties": {
            "point": {"$ref": "#/$defs/point"},
            "tree": {"$ref": "#/definitions/tree"},
        },
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "definitions": {
            "tree": {
                "type": "object",
                "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/definitions/tree"}}},
            }
        },
    }
    check(
        schema,
        ['{"point": {"x": 1.5}}', '{"tree": {"v": 1, "kids": [{"kids": [{}]}, {"v": 2}]}}'],
        ['{"point": {}}', '{"tree": {"kids": [{"v": "x"}]}}'],
    )


def test_empty_schema_is_any_json_value():
    check({}, ['{"a": [1, 2.5, "x", null, true, {"b": {}}]}', "[]", '"s"', "-3", "false"], ["{", "nul", "'x'"])


# -- whitespace ----------------------------------------------------------------------------------


def test_whitespace_between_tokens_is_bounded():
    gbnf = grammar_for({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert accepts(gbnf, '{\n' + " " * 20 + '"a": 1}')
    assert accepts(gbnf, '{\n\t"a" : 1 }')
    assert not accepts(gbnf, '{\n' + " " * 21 + '"a": 1}')
    assert not accepts(gbnf, '{\n\n"a": 1}')
    assert not accepts(gbnf, '{  "a": 1}')


# -- soundness on random mutations -----------------------------------------------------------------


def test_accepted_mutations_are_valid_json_for_the_schema():
    """Random edits of valid documents: whatever the grammar takes must be schema-valid JSON."""
    rng = random.Random(3)
    gbnf = grammar_for(WEATHER)
    seeds = ['{"location": "Paris", "unit": "celsius", "days": 3}', '{"location": "a\\"b", "days": 14}']
    alphabet = list('{}[]":,0123456789-.eE tnul\\\x01\x7f') + ["\n"]
    for _ in range(1500):
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(text) + 1)
            op = rng.random()
            if op < 0.4 and pos < len(text):
                del text[pos]
            elif op < 0.7 and pos < len(text):
                text[pos] = rng.choice(alphabet)
            else:
                text.insert(pos, rng.choice(alphabet))
        candidate = "".join(text)
        if accepts(gbnf, candidate):
            assert is_valid(WEATHER, candidate), candidate


# -- builder -------------------------------------------------------------------------------------


def test_literal_escapes_quotes_backslashes_and_control_chars():
    assert gbnf_literal('a"b\\c\n\x01\x7f') == '"a\\"b\\\\c\\n\\x01\\x7F"'
    assert gbnf_literal("<｜tool▁sep｜>") == '"<｜tool▁sep｜>"'
    text = 'say "hi"\\\n\t\x02 ✓ <|python_tag|>'
    gbnf = f"root ::= {gbnf_literal(text)}\n"
    assert accepts(gbnf, text)
    assert not accepts(gbnf, text[:-1])


def test_rule_names_are_sanitized_and_deterministic():
    assert sanitize_name("get_weather.v2 (beta)") == "get-weather-v2-beta"
    assert sanitize_name("__") == "rule"
    first, second = grammar_for(WEATHER), grammar_for(WEATHER)
    assert first == second
    for line in first.splitlines():
        name = line.split(" ::= ")[0]
        assert name == sanitize_name(name)


def test_identical_rule_bodies_are_shared_and_unreachable_rules_dropped():
    builder = GbnfBuilder()
    a = builder.add_schema({"type": "integer", "minimum": 3, "maximum": 7}, "a")
    b = builder.add_schema({"type": "integer", "minimum": 3, "maximum": 7}, "b")
    assert a == b
    gbnf = builder.render(a)
    assert "boolean ::=" not in gbnf and "value ::=" not in gbnf
    assert builder.add_rule("ws", '"x"') != "ws"  # builtin names are kept


# -- free text until a stop --------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["</think>", "aab", "```", "<｜tool▁calls▁end｜>"])
def test_until_rule_stops_exactly_at_the_first_stop(stop):
    builder = GbnfBuilder()
    gbnf = builder.render(f"{until_rule(builder, stop)} {gbnf_literal(stop)}")
    llama.validate_gbnf(gbnf)
    rng = random.Random(stop)
    pieces = [stop[:i] for i in range(len(stop))] + ["x", "\n", "é", stop[1:], stop[-1]]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) + stop
        expected = text.find(stop) == len(text) - len(stop)
        assert accepts(gbnf, text) == expected, repr(text)


def test_until_rule_with_several_stops():
    builder = GbnfBuilder()
    gbnf = builder.render(f"{until_rule(builder, ['<tool_call>', '<|python_tag|>'])} \"!\"")
    assert accepts(gbnf, "Hello <tool <tool_cal <|python!")
    assert not accepts(gbnf, "Hello <tool_call>!")
    assert not accepts(gbnf, "x<|python_tag|>!")


def test_render_with_extra_rules():
    builder = GbnfBuilder()
    gbnf = builder.render('call ("," call)*', extra_rules={"call": '"x" integer'})
    assert "call ::= \"x\" integer" in gbnf and "integer ::=" in gbnf
    assert accepts(gbnf, "x1,x-2") and not accepts(gbnf, "x1,")
    assert "call ::=" not in builder.render('"y"')
