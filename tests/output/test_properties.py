"""Properties of every parser (built-in formats, generated specs, the qwen3-coder plugin): it never
raises, it loses no character (what is not a parsed call is content or reasoning), and a stream
cut into random pieces gives exactly the one-shot parse."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatformats.hooks import api, get_registry
from chatformats.output import StreamParser, parse_output
from chatformats.spec.shape import compile_shape
from chatformats.spec.writer import write_calls
from parse_helpers import ids
from spec_strategies import ATOMS, calls_for, generated_specs, texts, tool_lists

REGISTRY = get_registry()
BUILTIN = sorted(f.name for f in REGISTRY if f.name != "qwen3-coder")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def markers_of(spec) -> list[str]:
    shape = compile_shape(spec)
    found = [m.text for m in (shape.section_open, shape.section_close, shape.call_open, shape.call_close,
                              shape.separator, shape.suffix, shape.content_open, shape.content_close)]
    found += [s.tool.begin or "" for s in shape.specials] + [s.tool.end for s in shape.specials]
    if spec.reasoning:
        found += [spec.reasoning.begin, spec.reasoning.end]
    return [m for m in found if m.strip()]


@st.composite
def garbage(draw, spec) -> str:
    """Text made of the format's markers and pieces of them, JSON fragments, names and prose."""
    pieces = markers_of(spec) + ATOMS[:6] + [
        '{"name": "f", "arguments": {"a": 1}}', '{"a": [1, {"b": null}]}', "{", "}", "[", "]", '"', ",", ":",
        "f", "g", ">", "\n", " ", "  ", "Hello", "é😀", "1e999", "NaN", '"\\u12', "f.call(x=1)", "```json\n",
    ]
    pieces += [m[: len(m) // 2] for m in markers_of(spec)]
    return "".join(draw(st.lists(st.sampled_from(pieces), max_size=14)))


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)])]


def stream(spec, pieces, tools, in_reasoning=False):
    parser = StreamParser(spec, tools, in_reasoning=in_reasoning, id_factory=ids)
    deltas = []
    for piece in pieces:
        deltas += parser.feed(piece)
    late, message = parser.finish()
    return deltas + late, message, parser.abandoned


def assembled(deltas, abandoned):
    content, reasoning, calls = "", "", {}
    for delta in deltas:
        content += delta.get("content", "")
        reasoning += delta.get("reasoning_content", "")
        for tc in delta.get("tool_calls", []):
            entry = calls.setdefault(tc["index"], {"id": tc.get("id"), "name": None, "arguments": ""})
            entry["name"] = tc["function"].get("name") or entry["name"]
            entry["arguments"] += tc["function"]["arguments"]
    kept = [calls[i] for i in sorted(calls) if i not in abandoned]
    return content, reasoning, kept


def message_view(message):
    return (
        message["content"] or "",
        message.get("reasoning_content", ""),
        [{"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
         for c in message.get("tool_calls", [])],
    )


def nonblank(text: str) -> str:
    return re.sub(r"\s+", "", text)


def explained(original: str, kept: str, markers: list[str]) -> bool:
    """Whether `kept` is `original` less some occurrences of the markers."""
    from functools import lru_cache

    @lru_cache(maxsize=None)
    def go(i: int, j: int) -> bool:
        if i == len(original):
            return j == len(kept)
        if j < len(kept) and original[i] == kept[j] and go(i + 1, j + 1):
            return True
        return any(m and original.startswith(m, i) and go(i + len(m), j) for m in markers)

    return go(0, 0)


def check_properties(spec, text, tools, cuts, in_reasoning=False) -> None:
    whole = parse_output(spec, text, tools, in_reasoning=in_reasoning, id_factory=ids)  # never raises
    assert whole["role"] == "assistant" and isinstance(whole["content"], (str, type(None)))
    deltas, message, abandoned = stream(spec, chunked(text, cuts), tools, in_reasoning)
    assert message == whole
    assert assembled(deltas, abandoned) == message_view(whole)
    if whole.get("tool_calls"):
        return
    # nothing parsed as a call: every character is content or reasoning, less the markers that
    # open and close reasoning and content (and the whitespace next to them)
    shape = compile_shape(spec)
    kept = nonblank(whole.get("reasoning_content", "") + (whole["content"] or ""))
    if shape.envelope is not None and text.strip().startswith("{") and kept != nonblank(text):
        return  # a reply object: its reply text is the content
    markers = [nonblank(spec.reasoning.begin), nonblank(spec.reasoning.end)] if spec.reasoning else []
    markers += [nonblank(m.text) for m in (shape.content_open, shape.content_close) if m.text.strip()]
    original = nonblank(shape.implicit_prefix + text)
    if shape.implicit_prefix:
        markers.append(nonblank(shape.implicit_prefix))
    assert explained(original, kept, markers), (text, whole)


@pytest.mark.parametrize("name", BUILTIN)
@SETTINGS
@given(data=st.data())
def test_builtin_parsers(name, data):
    spec = REGISTRY.get(name).spec
    text = data.draw(garbage(spec))
    tools = data.draw(st.sampled_from([None, [{"type": "function", "function": {"name": "f"}}]]))
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=6))
    check_properties(spec, text, tools, cuts, in_reasoning=data.draw(st.booleans()) and spec.reasoning is not None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=generated_specs(), data=st.data())
def test_generated_spec_parsers(spec, data):
    tools = data.draw(tool_lists())
    calls = data.draw(calls_for(tools))
    written = write_calls(spec, calls)
    text = data.draw(garbage(spec)) + data.draw(texts()) + written + data.draw(garbage(spec))
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=6))
    check_properties(spec, text, data.draw(st.sampled_from([None, tools])), cuts)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(list("<>/=\n x{}\"") + ["<tool_call>", "</tool_call>", "<function=",
       "</function>", "<parameter=", "</parameter>", "f>", "n>", "o>", "42", "nan", "inf", "1e999", "[[["]),
       max_size=40).map("".join))
def test_plugin_parser(text):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "number"}, "o": {"type": "object"}}}}}]
    message = api.parse("qwen3-coder", text, tools)  # never raises
    for call in message.get("tool_calls") or []:
        assert "NaN" not in call["function"]["arguments"] and "Infinity" not in call["function"]["arguments"]
    if not message.get("tool_calls"):
        assert message["content"] == text
