"""Lazy-grammar triggers derived from a spec's tool-call shape (when `spec.triggers` lists none)."""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from ..spec import Spec, ToolCalls, Triggers
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
    return Triggers(**derived_triggers(spec.tool_calls, offer(spec, tools, choice)), lazy=given.lazy)


def trigger_words(tc: ToolCalls, offered: Offer) -> list[str]:
    """Literal words that start the tool-call text (section, call or special begin)."""
    words: list[str] = []
    if tc.implicit_prefix and tc.body == "name" and tc.name_body is not None:
        for name in _name_body_names(offered):
            words.append(tc.implicit_prefix + name + tc.name_body.name_suffix)
    elif not tc.anchored:
        first = (tc.section.begin or tc.call.begin).strip()
        if first:
            words.append(first)
    for st, _ in offered.specials:
        if st.begin and st.begin.strip():
            words.append(st.begin.strip())
    return list(dict.fromkeys(words))


def _name_body_names(offered: Offer) -> list[str]:
    names = list(offered.regular)
    for st, names_offered in offered.specials:
        if st.begin is None and st.body == "raw":
            names += names_offered
    return list(dict.fromkeys(names))


def derived_triggers(tc: ToolCalls, offered: Offer) -> dict[str, list[str]]:
    """Triggers derived from the tool-call shape (ignoring spec.triggers)."""
    words = trigger_words(tc, offered)
    full: list[str] = []
    if tc.implicit_prefix and tc.body == "name" and tc.name_body is not None:
        names = "|".join(regex_escape(n) for n in _name_body_names(offered))
        suffix = regex_escape(tc.name_body.name_suffix)
        full.append(rf"^\s*((?:{names}){suffix})[\s\S]*$")
    elif tc.anchored or not (tc.section.begin or tc.call.begin).strip():
        full.append(rf"^\s*({_start_regex(tc)})[\s\S]*$")
    return {"words": words, "tokens": [], "patterns": [], "patterns_full": full}


def _start_regex(tc: ToolCalls) -> str:
    """A regex for the start of the tool-call text (where the grammar takes over)."""
    first = tc.section.begin or tc.call.begin
    if first.strip():
        return _regex_marker(first.lstrip())
    start = r"\[\s*" if tc.array else ""
    body = tc.json_body
    start += r"\{\s*"
    if body.id_key:
        start += rf'(?:{regex_escape(json.dumps(body.id_key))}\s*:\s*"[^"]*"\s*,\s*)?'
    fixed = "".join(
        rf"(?:{regex_escape(json.dumps(k))}\s*:\s*{regex_escape(json.dumps(v))}\s*,\s*)?"
        for k, v in body.optional_fields.items()
    )
    return rf'{start}{fixed}{regex_escape(json.dumps(body.name_key))}\s*:\s*"'


def regex_escape(text: str) -> str:
    """Escape for std::regex (ECMAScript): the metacharacters, and \\n \\r \\t for readability."""
    escaped = re.sub(r"[.^$|()*+?\[\]{}\\]", lambda m: "\\" + m.group(0), text)
    return escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _regex_marker(text: str) -> str:
    """A marker as a regex: its whitespace runs may be any whitespace."""
    return r"\s*".join(regex_escape(part) for part in re.split(r"\s+", text))
