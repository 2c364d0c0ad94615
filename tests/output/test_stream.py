"""StreamParser: the deltas of any chunking add up to parse_output of the whole text."""

from __future__ import annotations

import json
import random
import time

import pytest

from chatformats.output import BufferedStreamParser, StreamParser, message_deltas, parse_output
from parse_helpers import EXAMPLES, NESTED, hermes_call, ids, r1_call, real, real_tools, tools
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


def stream(spec, pieces, tool_list=None, **kw):
    """Feed `pieces`; return (all deltas, deltas returned before finish, final message, the
    indices of announced calls that were abandoned)."""
    parser = StreamParser(spec, tool_list, id_factory=ids, **kw)
    early = []
    for piece in pieces:
        early += parser.feed(piece)
    late, message = parser.finish()
    return early + late, early, message, parser.abandoned


def assemble(deltas, abandoned=()):
    """What a client builds from the deltas: content, reasoning and calls (less the calls the
    parser announced and then abandoned)."""
    content, reasoning, calls = "", "", {}
    for delta in deltas:
        assert len(delta) == 1, delta
        content += delta.get("content", "")
        reasoning += delta.get("reasoning_content", "")
        for tc in delta.get("tool_calls", []):
            if "id" in tc:
                assert tc["index"] not in calls, "call head sent twice"
                assert tc["type"] == "function" and tc["function"]["arguments"] == ""
                calls[tc["index"]] = {"id": tc["id"], "name": tc["function"]["name"], "arguments": ""}
            else:
                assert set(tc) == {"index", "function"} and set(tc["function"]) == {"arguments"}
                calls[tc["index"]]["arguments"] += tc["function"]["arguments"]
    assert sorted(calls) == list(range(len(calls)))
    return content, reasoning, [calls[i] for i in range(len(calls)) if i not in abandoned]


def expected(message):
    return (
        message["content"] or "",
        message.get("reasoning_content", ""),
        [
            {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in message.get("tool_calls", [])
        ],
    )


def chunkings(text, rnd, n_random=15):
    yield [text]
    yield list(text)
    for i in range(len(text) + 1):
        yield [text[:i], text[i:]]
    for _ in range(n_random):
        cuts = sorted(rnd.sample(range(len(text) + 1), min(len(text) + 1, rnd.randint(1, 8))))
        yield [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def assert_stream_matches(spec, text, tool_list=None, n_random=15, **kw):
    want = parse_output(spec, text, tool_list, id_factory=ids, **kw)
    rnd = random.Random(hash(text) & 0xFFFF)
    for pieces in chunkings(text, rnd, n_random):
        deltas, _, message, abandoned = stream(spec, pieces, tool_list, **kw)
        assert message == want, pieces
        assert assemble(deltas, abandoned) == expected(want), pieces
    return want


CASES = [
    (HERMES, "Hello, world!"),
    (HERMES, "  spaced  \n"),
    (HERMES, "Let me check.\n" + hermes_call("get_weather", {"city": "Paris"})),
    (HERMES, "\n".join(hermes_call(f"f{i}", {"i": i}) for i in range(3))),
    (HERMES, hermes_call("search", NESTED)),
    (HERMES, "<think>\nhmm\n</think>\n\n" + hermes_call("get_weather", {"city": "Oslo"}) + "\n"),
    (HERMES, "<think>\nunclosed <tool_call> thought"),
    (HERMES, 'Example: {"name": "get_weather", "arguments": {}}'),
    (HERMES, "The tool_call word and a lone <tool_call> marker </tool_call>"),
    (HERMES, '<tool_call>\n{"name": "f", "arguments": {"a": }\n</tool_call>\n' + hermes_call("g", {"b": 2})),
    (HERMES, "Before " + hermes_call("f", {}) + " after <tool"),
    (LLAMA3, '{"type": "function", "name": "get_weather", "parameters": {"city": "Lima"}}'),
    (LLAMA3, 'Sure: {"name": "get_weather", "parameters": {"city": "Lima"}}'),
    (LLAMA3, '{"name": "f", "parameters": {}}\nDone.'),
    (LLAMA3, '<|python_tag|>brave_search.call(query="news", count=3)'),
    (LLAMA3, "{not json at all"),
    (FUNCTIONARY_31, 'Hi<function=get_weather>{"city": "Oslo"}</function><function=noop>{}</function><|python_tag|>print(1)\n'),
    (FUNCTIONARY_31, '<function=get_weather>{"city": "Oslo"}'),
    (FUNCTIONARY_32, 'all\nHi there>>>get_weather\n{"city": "Paris"}>>>python\nprint(2)'),
    (FUNCTIONARY_32, 'get_weather\n{"city": "Paris"}\n>>>get_time\n{}'),
    (FUNCTIONARY_32, "Hello >>> world"),
    (FUNCTIONARY_32, "allocate\n{}"),
    (MISTRAL, '[TOOL_CALLS][{"name": "a", "arguments": {}, "id": "abcdefghi"}, {"name": "b", "arguments": {"k": 2}}]'),
    (MISTRAL, '[TOOL_CALLS][{"name": "a", "arguments": {}}, {"nom": "b"}]'),
    (FIREFUNCTION, ' functools[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {"y": "é"}}]'),
    (FIREFUNCTION, "I like myfunctools[1] and functools.partial"),
    (
        DEEPSEEK_R1,
        "<think>\nNeed two.\n</think>\n\n<｜tool▁calls▁begin｜>"
        + r1_call("get_weather", {"city": "Paris"}) + "\n" + r1_call("search", NESTED) + "<｜tool▁calls▁end｜>",
    ),
    (DEEPSEEK_R1, "<｜tool▁calls▁begin｜>" + r1_call("f", {"a": 1})),
    (GENERIC, '{"tool_calls": [{"name": "a", "arguments": {}, "id": "x1"}, {"name": "b", "arguments": {"n": 1}}]}'),
    (GENERIC, '{"response": "Hello!"}'),
    (GENERIC, '{"answer": 42}'),
    (GENERIC, "plain text"),
    (make_spec("jsonc", {"call": {"begin": "<c>", "end": "</c>"}, "content_encoding": "json_string"}),
     '"Hi\\nthere" <c>{"name": "f", "arguments": {}}</c> "after"'),
]


@pytest.mark.parametrize("spec,text", CASES, ids=[f"{s.name}-{i}" for i, (s, _) in enumerate(CASES)])
def test_every_chunking_adds_up_to_the_whole_parse(spec, text):
    assert_stream_matches(spec, text)


def test_reasoning_opened_by_the_prompt_streams_the_same():
    assert_stream_matches(HERMES, "Thinking.\n</think>\n\nThe answer." + hermes_call("f", {}), in_reasoning=True)
    assert_stream_matches(DEEPSEEK_R1, "half a thought", in_reasoning=True)


def test_unknown_tools_stream_the_same():
    text = hermes_call("rm_rf", {}) + "\n" + hermes_call("get_weather", {"city": "Rome"})
    want = assert_stream_matches(HERMES, text, tools("get_weather"))
    assert [c["function"]["name"] for c in want["tool_calls"]] == ["get_weather"]


# Random outputs built from each format's markers, fragments of markers, whole calls, JSON and prose.
WHOLE_CALLS = {
    "hermes": [hermes_call("get", {"a": 1}), hermes_call("put", NESTED)],
    "llama3": ['{"name": "f", "parameters": {"x": 1}}', '<|python_tag|>python.call(code="x")'],
    "functionary-v3.1": ['<function=get>{"a": 1}</function>', "<|python_tag|>print(1)"],
    "functionary-v3.2": ['>>>get\n{"a": 1}', ">>>python\nprint(1)", 'get\n{"b": [1, "东"]}'],
    "mistral": ['[TOOL_CALLS][{"name": "a", "arguments": {}, "id": "abcdefghi"}]'],
    "firefunction": [' functools[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"c": "é"}}]'],
    "deepseek-r1": ["<｜tool▁calls▁begin｜>" + r1_call("get", {"a": 1}), r1_call("put", {"b": 2})],
    "generic": ['{"tool_calls": [{"name": "a", "arguments": {}}]}', '{"tool_call": {"name": "b", "arguments": {}}}'],
}
FRAGMENTS = {
    "hermes": ["<tool_call>", "\n", "</tool_call>", '{"name": "get", "arguments": {"a": 1}}', '{"name": "x"', "}",
               "<think>", "</think>", " ", "Hi", "tool_call", "<", "<tool", '{"a": "}"}', "é😀"],
    "llama3": ['{"name": "f", "parameters": {"x": 1}}', '{"type": "function", ', '"name": "f", "parameters": {}}',
               "<|python_tag|>", 'python.call(code="x")', "Hi", " ", "\n", "{", "}", "<|", '"'],
    "functionary-v3.1": ["<function=", "get>", '{"a": 1}', "</function>", "<|python_tag|>", "print(1)", " ", "Hi",
                         "<", ">", "{", "}", "\n"],
    "functionary-v3.2": [">>>", "all\n", "get\n", '{"a": 1}', "python\n", "print(1)", "Hi", " ", "\n", "all", ">",
                         "{", "allocate\n"],
    "mistral": ["[TOOL_CALLS]", '[{"name": "a", "arguments": {}, "id": "abcdefghi"}]',
                '[{"name": "b", "arguments": {"k": [1]}}', "]", "[", " ", "Hi", ",", "[TOOL"],
    "firefunction": [" functools", "functools", '[{"name": "a", "arguments": {}}]', "[", "]", " ", "Hi", "func",
                     '{"x": 1}'],
    "deepseek-r1": ["<think>", "</think>", "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>function<｜tool▁sep｜>", "get",
                    "\n```json\n", '{"a": 1}', "\n```<｜tool▁call▁end｜>", "<｜tool▁calls▁end｜>", "\n", " ", "Hi",
                    "<｜"],
    "generic": ['{"tool_calls": [{"name": "a", "arguments": {}}]}', '{"response": "hi"}',
                '{"tool_call": {"name": "b", "arguments": {"x": 1}}}', " ", "\n", "Hi", "{", "}", '"'],
}


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_random_outputs_stream_like_the_whole_parse(spec):
    rnd = random.Random(spec.name)
    fragments = FRAGMENTS[spec.name] + WHOLE_CALLS[spec.name] * 3
    found_calls = 0
    for _ in range(60):
        text = "".join(rnd.choice(fragments) for _ in range(rnd.randint(0, 10)))
        for kw in ({}, {"in_reasoning": True}) if spec.reasoning else ({},):
            want = assert_stream_matches(spec, text, n_random=5, **kw)
            found_calls += len(want.get("tool_calls", []))
    assert found_calls > 0  # the generator does reach the call paths


def test_content_streams_before_the_end_and_no_marker_leaks():
    parser = StreamParser(HERMES, id_factory=ids)
    seen = ""
    text = "Hello there, friend. <tool_call>\n" + '{"name": "f", "arguments": {"a": 1}}' + "\n</tool_call>"
    for i, ch in enumerate(text):
        for delta in parser.feed(ch):
            seen += delta.get("content", "")
        assert "<" not in seen
        if text[: i + 1].endswith("friend."):
            assert seen == "Hello there, friend."
    assert seen == "Hello there, friend."
    deltas, message = parser.finish()
    assert message["content"] == "Hello there, friend."


def test_arguments_stream_as_the_model_writes_them():
    call = hermes_call("get_weather", {"city": "Paris", "days": 3})
    parser = StreamParser(HERMES, id_factory=ids)
    deltas = []
    for ch in call:
        deltas += parser.feed(ch)
    rest, message = parser.finish()
    assert rest == []
    head, *args = deltas
    assert head == {"tool_calls": [{"index": 0, "id": "id0", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}
    pieces = [d["tool_calls"][0]["function"]["arguments"] for d in args]
    assert len(pieces) > 5  # several deltas as the JSON arrives
    assert "".join(pieces) == message["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris", "days": 3}'
    # a number is sent once it is complete (3 could still become 30)
    assert not any(p.endswith("3") for p in pieces[:-1])


def test_a_call_cut_short_is_abandoned_and_its_text_is_content():
    text = "Sure." + hermes_call("get_weather", {"city": "Paris"})[:-5]
    deltas, _, message, abandoned = stream(HERMES, [text])
    assert abandoned == [0] and "tool_calls" not in message
    assert message["content"] == text
    content, _, calls = assemble(deltas, abandoned)
    assert content == text and calls == []


def test_reasoning_streams_incrementally():
    parser = StreamParser(DEEPSEEK_R1)
    got = []
    for piece in ["<think>", "\nStep one", ". Step", " two.\n", "</thi", "nk>", "\n\nDone."]:
        got.append(parser.feed(piece))
    assert got[1] == [{"reasoning_content": "Step one"}]
    assert got[2] == [{"reasoning_content": ". Step"}]
    assert got[3] == [{"reasoning_content": " two."}]  # the trailing newline is held back
    assert got[4] == []  # a partial end marker is held back
    deltas, message = parser.finish()
    assert message == {"role": "assistant", "content": "Done.", "reasoning_content": "Step one. Step two."}


def test_random_ids_agree_between_deltas_and_message():
    parser = StreamParser(HERMES)
    deltas = parser.feed(hermes_call("f", {}))
    _, message = parser.finish()
    assert deltas[0]["tool_calls"][0]["id"] == message["tool_calls"][0]["id"]
    assert message["tool_calls"][0]["id"].startswith("call_")


def test_misuse_is_reported():
    parser = StreamParser(HERMES)
    parser.finish()
    with pytest.raises(RuntimeError):
        parser.feed("x")
    with pytest.raises(RuntimeError):
        parser.finish()


def test_work_is_linear_in_the_output_length():
    # ~600 KB in 3-character pieces: a quadratic parser takes minutes here, a linear one < 1 s.
    args = {f"k{i}": "v" * 20 + '"{[' for i in range(8000)}
    text = "Hello there, " * 20000 + hermes_call("f", args) + " and <tool_ <think>" * 4000
    parser = StreamParser(HERMES)
    start = time.perf_counter()
    for i in range(0, len(text), 3):
        parser.feed(text[i : i + 3])
    _, message = parser.finish()
    elapsed = time.perf_counter() - start
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == args
    assert elapsed < 10, f"{elapsed:.1f}s for {len(text)} characters"


def test_buffered_stream_parser_wraps_a_whole_text_parser():
    parser = BufferedStreamParser(lambda text: parse_output(HERMES, text, id_factory=ids))
    text = "<think>r</think>Hi " + hermes_call("f", {"a": 1})
    assert all(parser.feed(ch) == [] for ch in text)
    deltas, message = parser.finish()
    assert message == parse_output(HERMES, text, id_factory=ids)
    assert assemble(deltas) == expected(message)
    assert message_deltas(message) == deltas


# -- the built-in specs ---------------------------------------------------------------------------

REAL_CASES = [(name, example.output, example.tools) for name, example in EXAMPLES] + [
    ("hermes", "<think>\nI will send " + hermes_call("get_weather", {"city": "Rome"}) + " next.</think>\nOK.", None),
    ("hermes", "Need weather.\n" + hermes_call("get_weather", {"city": "Rome"}) + "\nthen more", None),
    ("functionary-v3.2", 'all\nRunning.>>>python\n{"code": "print(1)"}>>>get_time\n{"timezone": "UTC"}', None),
    ("functionary-v3.1", '<|python_tag|>{"code": "print(\'json form\')"}', None),
    ("llama3", '<|python_tag|>{"name": "get_time", "parameters": {"timezone": "UTC"}}', None),
    ("deepseek-r1", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                    '"{\\"city\\": \\"Paris\\"}"\n```<｜tool▁call▁end｜>', None),
    ("generic", '  {"response": "Hi!"}\n', None),
]


@pytest.mark.parametrize("name,text,names", REAL_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(REAL_CASES)])
def test_builtin_specs_stream_like_the_whole_parse(name, text, names):
    tool_list = [t for t in real_tools(name) if names is None or t["function"]["name"] in names]
    assert_stream_matches(real(name), text, tool_list)
    if real(name).reasoning is not None:
        assert_stream_matches(real(name), text, tool_list, n_random=3, in_reasoning=True)


@pytest.mark.parametrize(
    "name,marker",
    [("llama3", "<|python_tag|>"), ("functionary-v3.1", "<function="), ("mistral-nemo", "[TOOL_CALLS]"),
     ("deepseek-r1", "<｜tool▁calls▁begin｜>"), ("firefunction-v2", "functools"), ("hermes", "<tool_call>")],
)
def test_no_marker_text_leaks_into_streamed_content(name, marker):
    spec = real(name)
    example = next(e for e in spec.examples if e.message.get("tool_calls") and marker in e.output)
    parser = StreamParser(spec, real_tools(name), id_factory=ids)
    streamed = ""
    for ch in example.output:
        for delta in parser.feed(ch):
            streamed += delta.get("content", "")
            assert marker[:2] not in streamed and "{" not in streamed
    deltas, message = parser.finish()
    streamed += "".join(d.get("content", "") for d in deltas)
    assert streamed == (message["content"] or "")
    assert message["tool_calls"]
