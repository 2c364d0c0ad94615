"""build_grammar: spec shapes -> GBNF + triggers, checked with llama.cpp's grammar engine."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

llama = pytest.importorskip("chatformats.llama")

from chatformats.testing.tiny_model import tiny_vocab  # noqa: E402


def accepts(gbnf: str, text: str) -> bool:
    """llama.cpp's grammar engine on the tiny model's vocabulary."""
    return llama.accepts(gbnf, text, vocab=tiny_vocab())


from chatformats.grammar import GrammarPlan, build_grammar  # noqa: E402
from chatformats.spec import (  # noqa: E402
    Envelope,
    Ids,
    JsonBody,
    Markers,
    NameBody,
    Reasoning,
    SpecialTool,
    Spec,
    ToolCalls,
    Triggers,
)

SPECIAL = {
    "type": "function",
    "function": {
        "name": "special_function",
        "parameters": {
            "type": "object",
            "properties": {"arg1": {"type": "integer", "minimum": 0, "maximum": 100}},
            "required": ["arg1"],
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}
PYTHON = {
    "type": "function",
    "function": {"name": "python", "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}},
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "brave_search",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "count": {"type": "integer", "maximum": 5}},
            "required": ["query"],
        },
    },
}
TOOLS = [SPECIAL, WEATHER]


def make_spec(reasoning: Reasoning | None = None, triggers: Triggers | None = None, **tool_calls) -> Spec:
    return Spec(
        spec_version=1,
        name="test",
        tool_calls=ToolCalls(**tool_calls),
        triggers=triggers or Triggers(),
        reasoning=reasoning,
    )


HERMES = make_spec(call=Markers(begin="<tool_call>\n", end="\n</tool_call>"), separator="\n", flexible_whitespace=4)
MISTRAL = make_spec(
    section=Markers(begin="[TOOL_CALLS]"), array=True, json_body=JsonBody(id_key="id"), ids=Ids(style="alnum9")
)
GENERIC = make_spec(envelope=Envelope(), json_body=JsonBody(id_key="id"), triggers=Triggers(lazy=False))
FUNCTIONARY_31 = make_spec(
    call=Markers(begin="<function=", end="</function>"),
    body="name",
    name_body=NameBody(name_suffix=">"),
    special_tools=[SpecialTool(names=["python"], begin="<|python_tag|>", body="raw")],
)
FUNCTIONARY_32 = make_spec(
    call=Markers(begin=">>>"),
    body="name",
    name_body=NameBody(name_suffix="\n"),
    implicit_prefix=">>>",
    special_tools=[SpecialTool(names=["python"], body="raw")],
)
LLAMA_3 = make_spec(
    anchored=True,
    json_body=JsonBody(arguments_key="parameters", optional_fields={"type": "function"}),
    special_tools=[
        SpecialTool(names=["brave_search", "wolfram_alpha"], begin="<|python_tag|>", body="python_call")
    ],
)
DEEPSEEK_R1 = make_spec(
    reasoning=Reasoning(begin="<think>", end="</think>"),
    section=Markers(begin="<｜tool▁calls▁begin｜>", end="<｜tool▁calls▁end｜>"),
    call=Markers(begin="<｜tool▁call▁begin｜>function<｜tool▁sep｜>", end="\n```<｜tool▁call▁end｜>"),
    separator="\n",
    body="name",
    name_body=NameBody(name_suffix="\n```json\n"),
)
RAW_WITH_END = make_spec(
    call=Markers(begin="<tool_call>", end="</tool_call>"),
    special_tools=[SpecialTool(names=["python"], begin="<code>", end="</code>", body="raw")],
)


def plan_for(spec, tools=TOOLS, tool_choice="auto", parallel=True) -> GrammarPlan:
    plan = build_grammar(spec, tools, tool_choice, parallel)
    assert plan is not None
    llama.validate_gbnf(plan.gbnf)
    return plan


def assert_accepts(plan: GrammarPlan, accepted=(), rejected=()) -> None:
    for text in accepted:
        assert accepts(plan.gbnf, text), f"rejected {text!r}\n{plan.gbnf}"
    for text in rejected:
        assert not accepts(plan.gbnf, text), f"accepted {text!r}\n{plan.gbnf}"


def lazy(plan: GrammarPlan, text: str) -> tuple[bool, bool]:
    assert plan.lazy
    return llama.plan_check(plan, text, vocab=tiny_vocab())


# -- hermes-like tagged JSON ----------------------------------------------------------------------

HERMES_CALL = '<tool_call>\n{"name": "special_function", "arguments": {"arg1": 1}}\n</tool_call>'


def test_hermes_triggers_and_lazy_grammar():
    plan = plan_for(HERMES)
    assert plan.lazy and plan.words == ["<tool_call>"]
    assert plan.tokens == [] and plan.patterns == [] and plan.patterns_full == []
    assert_accepts(
        plan,
        accepted=[
            HERMES_CALL,
            '<tool_call>{"name":"get_weather","arguments":{"location":"Paris","unit":"c"}}</tool_call>',
            HERMES_CALL + "\n" + HERMES_CALL.replace('"arg1": 1', '"arg1": 100'),
        ],
        rejected=[
            '<tool_call>\n{"name": "other_tool", "arguments": {"arg1": 1}}\n</tool_call>',  # wrong name
            '<tool_call>\n{"name": "special_function", "arguments": {"arg1": "1"}}\n</tool_call>',  # schema
            '<tool_call>\n{"name": "special_function", "arguments": {"arg1": 101}}\n</tool_call>',  # range
            '<tool_call>\n{"name": "special_function", "arguments": {"arg1": -1}}\n</tool_call>',
            '<tool_call>\n{"name": "get_weather", "arguments": {"location": "a\nb"}}\n</tool_call>',  # ctrl
            '<tool_call>\n{"name": "get_weather", "arguments": {"location": "a\tb"}}\n</tool_call>',
            '<tool_call>\n{"name": "special_function", "arguments": {"arg1": 1}}\n',  # unterminated
            "Hello " + HERMES_CALL,  # the lazy grammar starts at the trigger
        ],
    )
    # the arguments of one tool are not accepted under another tool's name
    assert_accepts(plan, rejected=['<tool_call>{"name": "get_weather", "arguments": {"arg1": 1}}</tool_call>'])


def test_hermes_content_then_trigger():
    plan = plan_for(HERMES)
    assert lazy(plan, "Let me check.\n" + HERMES_CALL) == (True, True)
    assert lazy(plan, "No tool needed.") == (False, False)
    assert lazy(plan, "Sure " + HERMES_CALL.replace("special_function", "nope")) == (True, False)


def test_parallel_false_allows_exactly_one_call():
    plan = plan_for(HERMES, parallel=False)
    assert_accepts(plan, accepted=[HERMES_CALL], rejected=[HERMES_CALL + "\n" + HERMES_CALL])
    plan = plan_for(HERMES)
    assert_accepts(plan, accepted=[HERMES_CALL + "\n" + HERMES_CALL])


def test_max_calls():
    spec = make_spec(call=Markers(begin="<tool_call>", end="</tool_call>"), max_calls=2)
    plan = plan_for(spec)
    call = '<tool_call>{"name": "special_function", "arguments": {"arg1": 1}}</tool_call>'
    assert_accepts(plan, accepted=[call, call + call], rejected=[call * 3])


def test_named_tool_choice_allows_only_that_tool():
    choice = {"type": "function", "function": {"name": "get_weather"}}
    plan = plan_for(HERMES, tool_choice=choice)
    assert not plan.lazy and plan.words == [] and plan.patterns_full == []
    weather = '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Oslo"}}\n</tool_call>'
    assert_accepts(plan, accepted=[weather], rejected=[HERMES_CALL, "Hi " + weather])


def test_required_is_not_lazy_and_constrains_from_the_first_token():
    plan = plan_for(HERMES, tool_choice="required")
    assert plan.lazy is False
    assert (plan.words, plan.tokens, plan.patterns, plan.patterns_full) == ([], [], [], [])
    assert_accepts(plan, accepted=[HERMES_CALL, "\n" + HERMES_CALL], rejected=["Hello", "Hi " + HERMES_CALL])


def test_no_grammar_without_tools_or_with_choice_none():
    assert build_grammar(HERMES, [], "auto") is None
    assert build_grammar(HERMES, None) is None
    assert build_grammar(HERMES, TOOLS, "none") is None


def test_bad_tool_choice_is_a_clear_error():
    with pytest.raises(ValueError, match="not among the tools"):
        build_grammar(HERMES, TOOLS, {"type": "function", "function": {"name": "missing"}})
    with pytest.raises(ValueError, match="tool_choice"):
        build_grammar(HERMES, TOOLS, "sometimes")


def test_declared_marker_whitespace_is_optional_and_bounded():
    plan = plan_for(HERMES)
    body = '{"name": "special_function", "arguments": {"arg1": 1}}'
    assert_accepts(
        plan,
        accepted=[f"<tool_call>{body}</tool_call>", f"<tool_call>\n\n \t{body}</tool_call>"],
        rejected=["<tool_call>" + "\n" * 5 + f"{body}</tool_call>"],
    )


def test_markers_are_literal_unless_the_spec_says_otherwise():
    literal = make_spec(call=Markers(begin="<call> ", end=" </call>"), separator="\n")
    plan = plan_for(literal)
    body = '{"name": "special_function", "arguments": {"arg1": 1}}'
    assert plan.words == ["<call>"]
    assert_accepts(
        plan,
        accepted=[f"<call> {body} </call>", f"<call> {body} </call>\n<call> {body} </call>"],
        rejected=[f"<call>{body} </call>", f"<call>  {body} </call>", f"<call> {body}</call>",
                  f"<call> {body} </call><call> {body} </call>"],
    )


# -- mistral-like array with ids ------------------------------------------------------------------


def test_mistral_array_with_alnum9_ids():
    plan = plan_for(MISTRAL)
    assert plan.words == ["[TOOL_CALLS]"]
    ok = '[TOOL_CALLS][{"name": "special_function", "arguments": {"arg1": 1}, "id": "abcDEF789"}]'
    two = (
        '[TOOL_CALLS][{"name": "special_function", "arguments": {"arg1": 1}, "id": "123456789"}, '
        '{"name": "get_weather", "arguments": {"location": "x"}, "id": "ZZZZZZZZZ"}]'
    )
    assert_accepts(
        plan,
        accepted=[ok, two],
        rejected=[
            ok.replace("abcDEF789", "abcDEF78"),  # 8 characters
            ok.replace("abcDEF789", "abcDEF7890"),
            ok.replace("abcDEF789", "call_1234"),
            ok.replace("special_function", "get_weather"),
        ],
    )
    assert_accepts(plan_for(MISTRAL, parallel=False), accepted=[ok], rejected=[two])
    # a call without an id is accepted (the parser makes one up), an id in front as well
    assert_accepts(plan, accepted=[ok.replace(', "id": "abcDEF789"', "")])


def test_index_ids():
    spec = make_spec(
        section=Markers(begin="<|START_ACTION|>", end="<|END_ACTION|>"),
        array=True,
        json_body=JsonBody(name_key="tool_name", arguments_key="parameters", id_key="tool_call_id"),
        ids=Ids(style="index"),
    )
    text = '<|START_ACTION|>[\n    {"tool_call_id": "0", "tool_name": "special_function", "parameters": {"arg1": 1}}\n]<|END_ACTION|>'
    assert_accepts(plan_for(spec), accepted=[text], rejected=[text.replace('"0"', '"a"')])


# -- generic envelope -----------------------------------------------------------------------------


def test_generic_envelope():
    call = '{"name": "special_function", "arguments": {"arg1": 1}, "id": "call_1"}'
    single, many, response = f'{{"tool_call": {call}}}', f'{{"tool_calls": [{call}, {call}]}}', '{"response": "Hi!"}'
    plan = plan_for(GENERIC)
    assert plan.lazy is False and plan.words == []
    assert_accepts(plan, accepted=[many, single, response], rejected=["Hi!", '{"response": 1}'])
    assert_accepts(plan_for(GENERIC, parallel=False), accepted=[single, response], rejected=[many])
    assert_accepts(plan_for(GENERIC, tool_choice="required"), accepted=[many], rejected=[response])
    bad = '{"tool_calls": [{"name": "special_function", "arguments": {"arg1": 1000}, "id": "x"}]}'
    assert_accepts(plan, rejected=[bad])


# -- name bodies: functionary v3.1 and v3.2 ---------------------------------------------------------


def test_functionary_v31_name_body_and_raw_python():
    plan = plan_for(FUNCTIONARY_31, tools=TOOLS + [PYTHON])
    assert plan.words == ["<function=", "<|python_tag|>"]
    call = '<function=special_function>{"arg1": 1}</function>'
    assert_accepts(
        plan,
        accepted=[
            call,
            call + '<function=get_weather>{"location": "Rome"}</function>',
            "<|python_tag|>print('hey')\nfor i in range(3):\n    pass",
            call + "<|python_tag|>import os",
            '<function=python>{"code": "x"}</function>',  # the regular form stays allowed
        ],
        rejected=[
            call + "\n<|python_tag|>import os",  # literal markers: nothing between two calls
            '<function=nope>{"arg1": 1}</function>',
            '<function=special_function>{"arg1": 1000}</function>',
            '<function=python>{"script": "x"}</function>',
        ],
    )
    # without the python tool offered, the raw form is not allowed
    assert_accepts(plan_for(FUNCTIONARY_31), rejected=["<|python_tag|>print(1)"])


def test_functionary_v32_implicit_prefix():
    plan = plan_for(FUNCTIONARY_32, tools=TOOLS + [PYTHON])
    assert plan.words == [">>>special_function\n", ">>>get_weather\n", ">>>python\n"]
    assert plan.patterns_full == [r"^\s*((?:special_function|get_weather|python)\n)[\s\S]*$"]
    first = 'special_function\n{"arg1": 1}'
    assert_accepts(
        plan,
        accepted=[first, ">>>" + first, first + '>>>get_weather\n{"location": "x"}', "python\nprint(1)"],
        rejected=[first + 'get_weather\n{"location": "x"}', 'other\n{"arg1": 1}'],
    )
    assert lazy(plan, first) == (True, True)
    assert lazy(plan, "all\nHello there!\n>>>" + first) == (True, True)
    assert lazy(plan, "all\nNothing to call.") == (False, False)
    pattern = re.compile(plan.patterns_full[0])
    assert pattern.match("\nget_weather\n{").group(1) == "get_weather\n"


# -- anchored bare JSON with builtin python_call tools (llama 3.x) ------------------------------------


def test_llama3_anchored_pattern_and_python_call():
    plan = plan_for(LLAMA_3, tools=TOOLS + [SEARCH])
    assert plan.words == ["<|python_tag|>"]
    assert plan.patterns_full == [
        r'^\s*(\{\s*(?:"type"\s*:\s*"function"\s*,\s*)?"name"\s*:\s*")[\s\S]*$'
    ]
    call = '{"name": "special_function", "parameters": {"arg1": 1}}'
    assert_accepts(
        plan,
        accepted=[
            call,
            '{"type": "function", "name": "special_function", "parameters": {"arg1": 1}}',
            '<|python_tag|>brave_search.call(query="weather in Paris")',
            '<|python_tag|>brave_search.call(query="x", count=5)',
        ],
        rejected=[
            '{"name": "special_function", "arguments": {"arg1": 1}}',
            '<|python_tag|>brave_search.call(query="x", count=6)',
            "<|python_tag|>brave_search.call(count=1)",  # query is required
            '<|python_tag|>wolfram_alpha.call(query="x")',  # not offered
        ],
    )
    assert lazy(plan, " " + call) == (True, True)
    assert lazy(plan, "The answer is 4.") == (False, False)
    assert lazy(plan, '{"name": "nope", "parameters": {}}')[1] is False


def test_llama3_required_single_call():
    plan = plan_for(LLAMA_3, tool_choice="required", parallel=False)
    call = '{"name": "special_function", "parameters": {"arg1": 1}}'
    assert_accepts(plan, accepted=[call], rejected=[call + call, "Hello"])


# -- sections, reasoning, raw tools with an end marker ---------------------------------------------


R1_CALL = (
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>special_function\n```json\n"
    '{"arg1": 1}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'
)


def test_deepseek_r1_section_lazy():
    plan = plan_for(DEEPSEEK_R1)
    assert plan.words == ["<｜tool▁calls▁begin｜>"]
    assert_accepts(plan, accepted=[R1_CALL], rejected=[R1_CALL.replace('"arg1": 1', '"arg1": 500')])
    assert lazy(plan, "<think>\nok</think>\n\n" + R1_CALL) == (True, True)


def test_required_with_reasoning_allows_an_optional_think_block():
    plan = plan_for(DEEPSEEK_R1, tool_choice="required")
    assert not plan.lazy
    assert_accepts(
        plan,
        accepted=[
            R1_CALL,
            "<think>\nI should call it. </think </thin>\n</think>\n\n" + R1_CALL,
        ],
        rejected=[
            "<think>never closed" + R1_CALL,
            "<think>a</think>b</think>" + R1_CALL,
            "<think>x</think>",
            "free text</think>" + R1_CALL,  # no begin marker: the prompt did not open the block
        ],
    )


def test_required_inside_a_reasoning_block_the_prompt_opened():
    from chatformats.grammar import build_grammar

    plan = build_grammar(DEEPSEEK_R1, TOOLS, "required", in_reasoning=True)
    assert_accepts(
        plan,
        accepted=["already thinking</think>" + R1_CALL, "</think>" + R1_CALL],
        rejected=[R1_CALL, "x" + R1_CALL],  # the block must be closed before the calls
    )


def test_raw_special_tool_with_end_marker():
    plan = plan_for(RAW_WITH_END, tools=TOOLS + [PYTHON])
    assert plan.words == ["<tool_call>", "<code>"]
    call = '<tool_call>{"name": "special_function", "arguments": {"arg1": 1}}</tool_call>'
    assert_accepts(
        plan,
        accepted=["<code>print('<co')</code>", "<code>x</code>" + call, call + "<code>a</code>"],
        rejected=["<code>x</code>y</code>", "<code>unterminated"],
    )


def test_non_lazy_auto_allows_content_or_calls():
    spec = make_spec(call=Markers(begin="<tool_call>", end="</tool_call>"), triggers=Triggers(lazy=False))
    plan = plan_for(spec)
    call = '<tool_call>{"name": "special_function", "arguments": {"arg1": 1}}</tool_call>'
    assert not plan.lazy
    assert_accepts(
        plan,
        accepted=["Just text.", "Calling: " + call, call],
        rejected=["Calling: " + call.replace("arg1", "arg2"), "x <tool_call> y"],
    )


def test_given_triggers_are_used_as_written():
    spec = make_spec(
        call=Markers(begin="<tool_call>", end="</tool_call>"),
        triggers=Triggers(words=["<tool_call>"], tokens=["<tool_call>"], patterns=[r"(<tool_call>)"]),
    )
    plan = plan_for(spec)
    assert (plan.words, plan.tokens, plan.patterns, plan.patterns_full) == (
        ["<tool_call>"],
        ["<tool_call>"],
        [r"(<tool_call>)"],
        [],
    )


def test_plan_is_frozen_deterministic_and_serialisable():
    plan = plan_for(HERMES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.lazy = False  # type: ignore[misc]
    data = plan.to_dict()
    assert set(data) == {"gbnf", "lazy", "words", "tokens", "patterns", "patterns_full", "warnings"}
    json.dumps(data)
    twin = make_spec(call=Markers(begin="<tool_call>\n", end="\n</tool_call>"), separator="\n", flexible_whitespace=4)
    assert build_grammar(twin, json.loads(json.dumps(TOOLS))) == plan


def test_tool_names_with_odd_characters():
    tools = [{"type": "function", "function": {"name": "my.tool-v2_x", "parameters": {}}}]
    plan = plan_for(HERMES, tools=tools)
    assert_accepts(plan, accepted=['<tool_call>{"name": "my.tool-v2_x", "arguments": {"a": [1]}}</tool_call>'])


def test_derive_triggers_and_triggers_from_elsewhere():
    from chatformats.grammar import NO_GRAMMAR, derive_triggers

    derived = derive_triggers(FUNCTIONARY_32, TOOLS)
    assert isinstance(derived, Triggers) and derived.lazy
    assert derived.words == [">>>special_function\n", ">>>get_weather\n"]
    assert derive_triggers(GENERIC, TOOLS).lazy is False
    given = make_spec(call=Markers(begin="<c>", end="</c>"), triggers=Triggers(words=["<c>"]))
    assert derive_triggers(given, TOOLS) is given.triggers
    # triggers chosen by a hook replace the derived ones; lazy: false makes the grammar non-lazy
    chosen = Triggers(words=["<tool_call>"], patterns=[r"\n(<tool_call>)"])
    plan = plan_for_triggers(chosen)
    assert plan.lazy and plan.triggers_dict() == {
        "words": ["<tool_call>"],
        "tokens": [],
        "patterns": [r"\n(<tool_call>)"],
        "patterns_full": [],
    }
    assert not plan_for_triggers(Triggers(lazy=False)).lazy
    assert NO_GRAMMAR.gbnf == "" and NO_GRAMMAR is not plan


def plan_for_triggers(triggers: Triggers) -> GrammarPlan:
    plan = build_grammar(HERMES, TOOLS, "auto", True, triggers=triggers)
    assert plan is not None
    return plan
