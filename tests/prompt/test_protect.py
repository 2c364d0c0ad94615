"""Client text is protected before rendering (chatformats.prompt.protect): the template sees
placeholders, the displayed prompt the client's text, the tokenizer no control text of a client."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings, strategies as st

from chatformats.prompt import compile_template
from chatformats.prompt.protect import protect_request, split_pieces

CONTROL = frozenset(["<|im_start|>", "<|im_end|>", "<think>", "</think>", "[INST]", "<｜tool▁sep｜>", "<|python_tag|>"])
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content|trim }}"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function|tojson }}</tool_call>{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if tools %}<|im_start|>tools\n{% for t in tools %}{{ t.function.name }}: {{ t|tojson }}\n{% endfor %}<|im_end|>\n{% endif %}"
    "<|im_start|>assistant\n"
)
COUNT = re.compile("|".join(re.escape(c) for c in sorted(CONTROL, key=len, reverse=True)))


def request(user: str, tool: str = "f", description: str = "d", arguments: str = "{}") -> dict:
    call = {"id": "c1", "type": "function", "function": {"name": tool, "arguments": arguments}}
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": user},
        ],
        "tools": [{"type": "function", "function": {"name": tool, "description": description, "parameters": {}}}],
    }


def render(req: dict) -> str:
    return compile_template(CHATML, "chatml").render(messages=req["messages"], tools=req["tools"])


def test_nothing_to_protect_is_the_same_request():
    req = request("hello")
    protection = protect_request(req, CONTROL)
    assert protection.request is req
    assert protection.parts("x") == [("x", True)]


def test_control_text_in_any_case_becomes_a_placeholder():
    protection = protect_request(request("a <|IM_END|> b <|im_end|>"), CONTROL)
    content = protection.request["messages"][0]["content"]
    assert "<|" not in content and "IM_END" not in content
    assert protection.restore(content) == "a <|IM_END|> b <|im_end|>"


def test_ends_that_could_join_the_template_text_are_protected():
    protection = protect_request(request("see <|im_  \n"), CONTROL)
    content = protection.request["messages"][0]["content"]
    assert content.startswith("see ") and "<|im_" not in content
    assert protection.request["messages"][0]["role"] == "user"


def test_escaped_control_text_in_arguments_is_reserialised():
    raw = json.dumps({"city": "<|im_end|>"})  # "\u003c|im_end|>" only after json.loads
    raw = raw.replace("<", "\\u003c")
    protection = protect_request(request("x", arguments=raw), CONTROL)
    arguments = protection.request["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert "<|im_end|>" not in json.loads(arguments)["city"]
    assert protection.restore(json.loads(arguments)["city"]) == "<|im_end|>"


def test_client_text_in_the_placeholder_range_round_trips():
    text = "\U000f0000\U000f0001<|im_end|>\U0010fffd"
    protection = protect_request(request(text), CONTROL)
    assert protection.restore(render(protection.request)) == render(request(text))


def test_names_stay_consistent_between_tools_and_calls():
    protection = protect_request(request("x", tool="get<|im_end|>"), CONTROL)
    tool = protection.request["tools"][0]["function"]["name"]
    assert protection.request["messages"][1]["tool_calls"][0]["function"]["name"] == tool != "get<|im_end|>"


def test_pieces_hold_no_whole_control_text():
    pieces = split_pieces("<|im_end|><|im_start|>x", CONTROL)
    assert "".join(pieces) == "<|im_end|><|im_start|>x"
    assert not any(COUNT.search(piece) for piece in pieces)
    assert split_pieces("plain", CONTROL) == ["plain"]


FRAGMENT = st.tuples(st.sampled_from(sorted(CONTROL)), st.integers(1, 12), st.booleans()).map(
    lambda t: t[0][: t[1]] if t[2] else t[0][-t[1] :]
)
PIECE = st.one_of(
    st.sampled_from(sorted(CONTROL)),
    st.sampled_from(sorted(CONTROL)).map(str.upper),
    FRAGMENT,
    st.characters(min_codepoint=0xF0000, max_codepoint=0xF0004),
    st.text(alphabet="ab <|>_/[]\n\t", max_size=4),
)
CLIENT = st.lists(PIECE, max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(user=CLIENT, tool=CLIENT.filter(bool), description=CLIENT, value=CLIENT)
def test_protected_rendering_reads_the_same_and_forges_nothing(user, tool, description, value):
    original = request(user, tool, description, json.dumps({"k": value}, ensure_ascii=False))
    protection = protect_request(original, CONTROL)
    rendered = render(protection.request)
    # the displayed prompt is what the template makes of the client's own text
    assert protection.restore(rendered) == render(original)
    parts = protection.parts(rendered)
    assert "".join(text for text, _ in parts) == render(original)
    # client pieces hold no control text; template text only the template's own
    assert not any(COUNT.search(text) for text, special in parts if not special)
    template_text = "".join(text if special else "\0" for text, special in parts)
    neutral = render(request("x", "f", "d", "{}"))
    assert len(COUNT.findall(template_text)) == len(COUNT.findall(neutral))
