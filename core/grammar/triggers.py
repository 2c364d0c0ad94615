"""Lazy-grammar triggers derived from a spec's compiled shape (when `spec.triggers` lists none).

A trigger marks where the grammar takes over, so it is always a prefix of the call text the
grammar describes: the opening core of the first piece (a literal marker's text up to its trailing
whitespace, which the grammar then requires).
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from ..spec import Spec, Triggers
from ..spec.shape import WS_CHARS, Mark, Shape, compile_shape
from .offer import Offer, offer


def derive_triggers(
    spec: Spec, tools: Optional[list[dict[str, Any]]], tool_choice: Any = "auto"
) -> Triggers:
    """`spec.triggers` where it lists any, else triggers derived from the tool-call shape.

    Derived: the first marker of a call (section begin, else call begin, plus each offered
    special tool's begin) as a word; an anchored shape gives a `patterns_full` ending where the
    grammar starts; an implicit prefix with name bodies gives one word per tool plus a pattern.
    """
    given = spec.triggers
    if given.words or given.tokens or given.patterns or given.patterns_full or not tools:
        return given
    choice = "auto" if tool_choice in (None, "none", "required") else tool_choice
    shape = compile_shape(spec)
    return Triggers(**derived_triggers(shape, offer(spec, tools, choice)), lazy=given.lazy)


def _word(mark: Mark) -> str:
    """Where a marker can start the grammar: its core, up to any trailing whitespace."""
    return mark.core.rstrip(WS_CHARS)


def trigger_words(shape: Shape, offered: Offer) -> list[str]:
    """Literal words that start the tool-call text (section, call or special begin)."""
    words: list[str] = []
    if shape.implicit_prefix and shape.body == "name":
        for name in _name_body_names(offered):
            words.append(shape.implicit_prefix + name + shape.suffix.text)
    elif not shape.anchored:
        first = _word(shape.first_open)
        if first:
            words.append(first)
    for st, _ in offered.specials:
        special = next(s for s in shape.specials if s.tool is st)
        if special.open:
            words.append(special.open.rstrip(WS_CHARS))
    return list(dict.fromkeys(w for w in words if w))


def _name_body_names(offered: Offer) -> list[str]:
    names = list(offered.regular)
    for st, names_offered in offered.specials:
        if st.begin is None and st.body == "raw":
            names += names_offered
    return list(dict.fromkeys(names))


def derived_triggers(shape: Shape, offered: Offer) -> dict[str, list[str]]:
    """Triggers derived from the tool-call shape (ignoring spec.triggers)."""
    words = trigger_words(shape, offered)
    full: list[str] = []
    if shape.implicit_prefix and shape.body == "name":
        names = "|".join(regex_escape(n) for n in _name_body_names(offered))
        full.append(rf"^\s*((?:{names}){regex_escape(shape.suffix.text)})[\s\S]*$")
    elif shape.anchored or not _word(shape.first_open):
        full.append(rf"^\s*({_start_regex(shape)})[\s\S]*$")
    return {"words": words, "tokens": [], "patterns": [], "patterns_full": full}


def _start_regex(shape: Shape) -> str:
    """A regex for the start of the tool-call text (where the grammar takes over)."""
    first = _word(shape.first_open)
    if first:
        return regex_escape(first)
    start = r"\[\s*" if shape.array else ""
    body = shape.json_body
    start += r"\{\s*"
    if shape.id_key and shape.ids_written:
        start += rf'(?:{regex_escape(json.dumps(shape.id_key))}\s*:\s*"[^"]*"\s*,\s*)?'
    fixed = "".join(
        rf"(?:{regex_escape(json.dumps(k))}\s*:\s*{regex_escape(json.dumps(v))}\s*,\s*)?"
        for k, v in body.optional_fields.items()
    )
    return rf'{start}{fixed}{regex_escape(json.dumps(body.name_key))}\s*:\s*"'


def regex_escape(text: str) -> str:
    """Escape for std::regex (ECMAScript): the metacharacters, and \\n \\r \\t for readability."""
    escaped = re.sub(r"[.^$|()*+?\[\]{}\\]", lambda m: "\\" + m.group(0), text)
    return escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
