"""Hypothesis strategies the property tests share: generated specs (random markers with spaces,
newlines and special tokens, random body kinds), random tools (names outside [\\w.-] included)
and calls whose arguments follow the tools' schemas, and text around them."""

from __future__ import annotations

import json
import string

from hypothesis import strategies as st

from chatformats.spec import Spec

# Distinct atoms for markers: special tokens of the tiny test model and plain tags.
ATOMS = ["<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "<｜tool▁sep｜>", "<call>", "</call>",
         "<<", ">>", "@@", "CALL:", "END", "##", "%%"]
WS = ["", " ", "\n", "  ", "\n\n", " \n"]
# Names: characters no marker uses, beyond [\w.-] too.
NAME_CHARS = string.ascii_letters + string.digits + "_.-éü日本 /:+"
# Text around calls: no character a marker starts with.
TEXT_CHARS = string.ascii_letters + string.digits + " ,.!?'()éß東京\n"


@st.composite
def marks(draw, atoms: list[str]) -> str:
    """One marker: an unused atom, maybe with whitespace at its edges."""
    atom = draw(st.sampled_from([a for a in ATOMS if a not in atoms]))
    atoms.append(atom)
    return draw(st.sampled_from(WS)) + atom + draw(st.sampled_from(WS))


@st.composite
def generated_specs(draw) -> Spec:
    """A valid spec of a random shape."""
    used: list[str] = []
    kind = draw(st.sampled_from(["json", "name", "array", "envelope", "json_section"]))
    tc: dict = {"flexible_whitespace": draw(st.sampled_from([0, 0, 2, 4]))}
    if kind == "envelope":
        keys = draw(st.lists(st.sampled_from(["tool_calls", "calls", "tool_call", "call", "response", "text"]),
                             min_size=3, max_size=3, unique=True))
        tc["envelope"] = {"calls_key": keys[0], "call_key": keys[1], "content_key": keys[2]}
    elif kind == "array":
        tc["section"] = {"begin": draw(marks(used))}
        tc["array"] = True
        if draw(st.booleans()):
            tc["section"]["end"] = draw(marks(used))
    else:
        if kind == "json_section" or draw(st.booleans()):
            tc["section"] = {"begin": draw(marks(used))}
            if draw(st.booleans()):
                tc["section"]["end"] = draw(marks(used))
        begin = draw(marks(used)) if kind == "name" or "section" not in tc or draw(st.booleans()) else ""
        tc["call"] = {"begin": begin}
        if draw(st.booleans()) or kind == "name":
            tc["call"]["end"] = draw(marks(used))
        tc["separator"] = draw(st.sampled_from(["", "\n", " ", ",", "||"]))
        if kind == "name":
            tc["body"] = "name"
            tc["name"] = {"name_suffix": draw(st.sampled_from([">", "\n", ">\n", " = ", "::"]))}
    if kind != "name":
        jb = {
            "name_key": draw(st.sampled_from(["name", "tool", "function"])),
            "arguments_key": draw(st.sampled_from(["arguments", "parameters", "args"])),
        }
        if draw(st.booleans()):
            jb["id_key"] = draw(st.sampled_from(["id", "call_id"]))
            tc["ids"] = {
                "style": draw(st.sampled_from(["random", "alnum9", "index"])),
                "written_by_model": draw(st.booleans()),
            }
        tc["json"] = jb
    return Spec.model_validate({"spec_version": 1, "name": f"gen-{kind}", "tool_calls": tc})


PROPERTIES = {
    "text": {"type": "string", "maxLength": 12},
    "count": {"type": "integer", "minimum": -5, "maximum": 500},
    "ratio": {"type": "number"},
    "flag": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3},
    "unit": {"enum": ["c", "f", None]},
    "nested": {"type": "object", "properties": {"k": {"type": "string", "maxLength": 5}}, "required": ["k"]},
}


@st.composite
def tool_lists(draw) -> list[dict]:
    names = draw(st.lists(
        st.text(NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool), min_size=1, max_size=3, unique=True
    ))
    tools = []
    for name in names:
        keys = draw(st.lists(st.sampled_from(sorted(PROPERTIES)), min_size=0, max_size=4, unique=True))
        required = [k for k in keys if draw(st.booleans())]
        parameters = {"type": "object", "properties": {k: PROPERTIES[k] for k in keys}, "required": required}
        tools.append({"type": "function", "function": {"name": name, "parameters": parameters}})
    return tools


def _value(key: str):
    small = st.text(TEXT_CHARS + '"\\\t\x7f\u2028😀', max_size=5)
    return {
        "text": st.text(TEXT_CHARS + '"\\<>{}[]\x7f😀', max_size=12),
        "count": st.integers(-5, 500),
        "ratio": st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
        "flag": st.booleans(),
        "tags": st.lists(small, max_size=3),
        "unit": st.sampled_from(["c", "f", None]),
        "nested": small.map(lambda k: {"k": k}),
    }[key]


@st.composite
def calls_for(draw, tools: list[dict], max_calls: int = 3) -> list[tuple[str, str, dict]]:
    """(id, name, arguments) of 1..max_calls calls of the given tools."""
    out = []
    for i in range(draw(st.integers(1, max_calls))):
        tool = draw(st.sampled_from(tools))["function"]
        schema = tool["parameters"]
        args = {}
        for key in schema["properties"]:
            if key in schema["required"] or draw(st.booleans()):
                args[key] = draw(_value(key))
        call_id = draw(st.sampled_from(["a1B2c3D4e", "Zz9Yy8Xx7", "call_abc", "17"]))
        out.append((call_id, tool["name"], args))
    return out


def texts() -> st.SearchStrategy[str]:
    """Content around calls (no marker text in it)."""
    return st.text(TEXT_CHARS, max_size=20)


def arguments_text(args: dict) -> str:
    return json.dumps(args, ensure_ascii=False).replace("\x7f", "\\u007f")
