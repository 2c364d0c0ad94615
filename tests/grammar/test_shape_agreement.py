"""Grammar = parser, by construction: for every format (built-in, plugin, and generated specs with
random markers including spaces, newlines and special tokens, random body kinds), what the
writer writes for random calls (tool names beyond [\\w.-], arguments from the tools' schemas) is
accepted by the grammar (llama.cpp's own engine on the tiny model's vocabulary) and parses back to
exactly those calls; and text the grammar produces (random walks of the tiny model under it)
parses to exactly the calls it holds, schema-valid, with no call text left in the content."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

llama = pytest.importorskip("chatformats.llama")

from chatformats.grammar import build_grammar  # noqa: E402
from chatformats.hooks import api, get_registry  # noqa: E402
from chatformats.output import parse_output  # noqa: E402
from chatformats.spec.shape import compile_shape  # noqa: E402
from chatformats.spec.writer import write_calls  # noqa: E402
from chatformats.testing.tiny_model import tiny_vocab  # noqa: E402
from spec_strategies import arguments_text, calls_for, generated_specs, texts, tool_lists  # noqa: E402

REGISTRY = get_registry()
BUILTIN = sorted(f.name for f in REGISTRY if f.name != "qwen3-coder")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def with_ids(spec, calls):
    """The calls with ids in the spec's style (what its grammar lets a model write)."""
    style = compile_shape(spec).id_style
    made = {"alnum9": lambda i: f"a1B2c3D4{i % 10}", "index": str, "random": lambda i: f"call_{i}"}[style]
    return [(made(i), name, args) for i, (_, name, args) in enumerate(calls)]


def expected(spec, calls):
    shape = compile_shape(spec)
    keep_ids = bool(shape.id_key and shape.ids_written)
    return [(call_id if keep_ids else None, name, arguments_text(args)) for call_id, name, args in calls]


def got(message, spec):
    shape = compile_shape(spec)
    keep_ids = bool(shape.id_key and shape.ids_written)
    return [
        (c["id"] if keep_ids else None, c["function"]["name"], c["function"]["arguments"])
        for c in message.get("tool_calls") or []
    ]


def check_written(spec, tools, calls, content="") -> None:
    shape = compile_shape(spec)
    calls = with_ids(spec, calls)[: shape.max_calls or 8]
    text = write_calls(spec, calls, content or None)
    message = parse_output(spec, text, tools)
    assert got(message, spec) == expected(spec, calls), text
    if shape.envelope is None:  # whitespace touching the calls goes
        assert (message["content"] or "") == (content.rstrip() if content.strip() else ""), text
    for choice in ("auto", "required"):
        if choice == "auto" and content and shape.envelope is None and not shape.anchored:
            plan_text = text  # the lazy grammar starts at its trigger, after the content
        elif content:
            continue  # a required call leaves no room for content
        else:
            plan_text = text
        plan = build_grammar(spec, tools, choice, parallel_tool_calls=len(calls) > 1)
        triggered, accepted = llama.plan_check(plan, plan_text, vocab=tiny_vocab())
        assert triggered and accepted, f"{choice}: {plan_text!r}\n{plan.gbnf}"


@pytest.mark.parametrize("name", BUILTIN)
@SETTINGS
@given(data=st.data())
def test_builtin_writer_output_is_accepted_and_parses_back(name, data):
    spec = REGISTRY.get(name).spec
    tools = data.draw(tool_lists())
    calls = data.draw(calls_for(tools, 1 if spec.tool_calls.max_calls == 1 else 3))
    content = "" if compile_shape(spec).anchored or compile_shape(spec).implicit_prefix else data.draw(texts())
    check_written(spec, tools, calls, content)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=generated_specs(), data=st.data())
def test_generated_spec_writer_output_is_accepted_and_parses_back(spec, data):
    tools = data.draw(tool_lists())
    calls = data.draw(calls_for(tools))
    shape = compile_shape(spec)
    content = "" if shape.anchored else data.draw(texts())
    check_written(spec, tools, calls, content)


# -- the plugin's XML calls --------------------------------------------------------------------


def xml_call(name: str, args: dict) -> str:
    """A call as Qwen3-Coder writes it (its template's layout)."""
    params = "".join(
        f"<parameter={k}>\n{v if isinstance(v, str) else arguments_text(v)}\n</parameter>\n" for k, v in args.items()
    )
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


@SETTINGS
@given(data=st.data())
def test_plugin_calls_are_accepted_and_parse_back(data):
    tools = data.draw(tool_lists())
    calls = data.draw(calls_for(tools))
    # a string with a length bound is written without "<" or newlines (so it cannot hold the end tag)
    calls = [
        (i, n, {k: v.replace("<", "(").replace("\n", " ") if isinstance(v, str) else v for k, v in a.items()})
        for i, n, a in calls
    ]
    text = "\n".join(xml_call(name, args) for _, name, args in calls)
    message = api.parse("qwen3-coder", text, tools)
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]] == [
        (name, args) for _, name, args in calls
    ]
    plan = api.plan("qwen3-coder", tools, "required", parallel_tool_calls=len(calls) > 1)
    assert llama.plan_check(plan, text, vocab=tiny_vocab()) == (True, True), text


# -- random walks: what the grammar lets the tiny model write ----------------------------------


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    from chatformats.llama.engine import Engine

    return Engine(tiny_model_path, n_ctx=2048)


def walk(engine, plan, seed: int, max_tokens: int = 400):
    prompt = engine.tokenize_prompt([("<|im_start|>user\nCall a tool.<|im_end|>\n<|im_start|>assistant\n", True)])
    options = dict(grammar=plan.gbnf, lazy=False, max_tokens=max_tokens, seed=seed, temperature=1.0)
    events = list(engine.generate(prompt, **options))
    return "".join(e.text for e in events), events[-1].finish_reason


def check_walk(spec, tools, text, finish, parse=None) -> None:
    message = (parse or (lambda t: parse_output(spec, t, tools)))(text)
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    for call in message.get("tool_calls") or []:
        jsonschema.validate(json.loads(call["function"]["arguments"]), schemas[call["function"]["name"]])
    if finish == "stop":  # the grammar completed: it holds calls and nothing else
        assert message.get("tool_calls"), text
        assert not (message["content"] or "").strip(), text


WALK_TOOLS = [
    {"type": "function", "function": {"name": "get weather/v2", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 20}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city"]}}},
    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
]


@pytest.mark.parametrize("name", BUILTIN + ["qwen3-coder"])
def test_random_walks_parse_to_the_calls_they_hold(engine, name):
    fmt = REGISTRY.get(name)
    for seed in range(3):
        plan = api.plan(fmt, WALK_TOOLS, "required")
        text, finish = walk(engine, plan, seed)
        check_walk(fmt.spec, WALK_TOOLS, text, finish, lambda t: api.parse(fmt, t, WALK_TOOLS))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec=generated_specs(), seed=st.integers(0, 1000))
def test_random_walks_on_generated_specs(engine, spec, seed):
    plan = build_grammar(spec, WALK_TOOLS, "required")
    text, finish = walk(engine, plan, seed)
    check_walk(spec, WALK_TOOLS, text, finish)


# -- the case: a YAML-only format with space-carrying markers, end to end ---------------

SPACEY = """
spec_version: 1
name: spacey
description: "markers that carry meaningful spaces: CALL name ARGS {json} END"
tool_calls:
  call: {begin: "CALL ", end: " END"}
  separator: "\\n"
  body: name
  name: {name_suffix: " ARGS "}
stop: ["<|im_end|>"]
"""
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_a_yaml_only_format_with_space_carrying_markers_works_on_llama_cpp(tmp_path, tiny_model_path):
    from chatformats.hooks.registry import Registry
    from chatformats.llama import ChatModel

    (tmp_path / "spacey.yaml").write_text(SPACEY, encoding="utf-8")
    registry = Registry(REGISTRY.plugins, [tmp_path])
    model = ChatModel(str(tiny_model_path), "spacey", template=CHATML, registry=registry)
    user = [{"role": "user", "content": "Weather in Paris?"}]
    for seed in range(8):
        result = model.chat(user, WALK_TOOLS, "required", max_tokens=300, seed=seed)
        message = result["choices"][0]["message"]
        raw = result["chatformats"]["raw_output"]
        assert message.get("tool_calls"), f"seed {seed}: {raw!r}"
        assert result["choices"][0]["finish_reason"] in ("tool_calls", "length"), raw
        check_walk(model.format.spec, WALK_TOOLS, raw, "stop" if result["choices"][0]["finish_reason"] == "tool_calls" else "length")
