"""The one compiled reading of a spec's `tool_calls` wire shape.

The grammar planner, the trigger derivation, the parser, the stream parser and the history writer
all read a format's calls from here, so they agree by construction on what a marker is, where
whitespace may go and where calls open.

Markers are literal. With `flexible_whitespace: N` the whitespace at a marker's edges (and a
whitespace-only marker) becomes a `Gap`: 0 to max(N, as written) spaces, tabs, carriage returns or
newlines; a gap also joins two calls and a section marker to the call beside it. Adjacent gaps
merge into one. What is left of a marker (its `core`) is matched exactly.

A call is read as a sequence of pieces joined by junctions (a `Gap` or nothing):

    [section.open] j_section_call CALL (between CALL)* j_call_section [section.close]
    CALL = [call.open] j_open_body BODY j_body_close [call.close]
    BODY = JSON object (body: json) | NAME j_name_suffix [suffix] j_suffix_args ARGS (body: name)

`between` runs from one call's close (or body) to the next call's open: a gap, the separator's
core and a gap, each part optional.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any, Optional

from .model import Envelope, JsonBody, Spec, SpecialTool

WS_CHARS = " \t\r\n"
"""The whitespace a gap may hold (the grammar's class and the parser's agree)."""

LEADING_WS = 2
"""Most whitespace a grammar allows before a call it requires (tool_choice required/named)."""


@dataclass(frozen=True)
class Gap:
    """Flexible whitespace: 0 to `max` characters of WS_CHARS; `written` is what the spec writes."""

    max: int
    written: int = 0


Junction = Optional[Gap]


@dataclass(frozen=True)
class Mark:
    """One marker as the shape reads it: `lead` gap, exact `core`, `trail` gap; `text` as written."""

    text: str
    core: str
    lead: Junction
    trail: Junction


def _run_length(text: str, leading: bool) -> int:
    stripped = text.lstrip(WS_CHARS) if leading else text.rstrip(WS_CHARS)
    return len(text) - len(stripped)


def read_mark(text: str, flexible: int) -> Mark:
    """`text` as a marker: literal, or with flexible edge whitespace."""
    if not flexible or not text:
        return Mark(text, text, None, None)
    core = text.strip(WS_CHARS)
    if not core:
        return Mark(text, "", Gap(max(flexible, len(text)), len(text)), None)
    lead, trail = _run_length(text, True), _run_length(text, False)
    return Mark(
        text,
        core,
        Gap(max(flexible, lead), lead) if lead else None,
        Gap(max(flexible, trail), trail) if trail else None,
    )


def join(flexible: int, *gaps: Junction, force: bool = False) -> Junction:
    """One junction of adjacent gaps (None: nothing may come between); `force` makes a gap of
    `flexible` even where the spec writes none (between calls and around sections)."""
    present = [g for g in gaps if g is not None]
    if not present and not (force and flexible):
        return None
    written = sum(g.written for g in present)
    return Gap(max([flexible, written] + [g.max for g in present]), written)


@dataclass(frozen=True)
class Between:
    """From one call's end to the next call's begin: gap, separator core, gap (each optional)."""

    lead: Junction
    core: str
    trail: Junction


@dataclass(frozen=True)
class SpecialShape:
    """A special tool as the shape reads it (raw code or NAME.call(...), see `SpecialTool`)."""

    tool: SpecialTool
    names: tuple[str, ...]
    body: str
    argument: str
    open: str  # its own opening core ("" for tools called in the call's name position)
    open_gap: Junction  # python_call: between the opening core and NAME
    close: str  # raw: the text that ends it; python_call: the core after the call ("" none)
    close_gap: Junction  # python_call: between the call and `close`
    stops: tuple[str, ...]  # generation stops after this kind of call (consumed when present)


@dataclass(frozen=True)
class Shape:
    """The compiled wire shape of one spec (see the module docstring)."""

    flexible: int
    reasoning: Optional[tuple[str, str]]
    body: str
    array: bool
    envelope: Optional[Envelope]
    json_body: JsonBody
    id_key: Optional[str]
    ids_written: bool
    id_style: str
    max_calls: Optional[int]
    anchored: bool
    implicit_prefix: str
    content_encoding: str
    # pieces
    section_open: Mark
    section_close: Mark
    section_close_optional: bool
    call_open: Mark
    call_close: Mark
    separator: Mark
    suffix: Mark
    # junctions between pieces
    j_section_call: Junction
    j_open_body: Junction
    j_name_suffix: Junction
    j_suffix_args: Junction
    j_body_close: Junction
    between: Between
    j_call_section: Junction
    first_lead: Junction  # whitespace before the first piece in a grammar that requires calls
    last_trail: Junction  # whitespace the last piece's marker writes after itself
    specials: tuple[SpecialShape, ...]
    name_specials: dict[str, SpecialShape]  # raw tools written in the name position
    # where calls open in the output (searched anywhere)
    openers: Optional[re.Pattern]
    opener_kinds: dict[str, tuple[str, Any]]  # regex group -> (kind, payload)
    opener_cores: tuple[str, ...]  # for holding back a partial marker while streaming
    call_openers: Optional[re.Pattern]  # the openers of calls only (looked for in reasoning)
    call_opener_cores: tuple[str, ...]
    content_open: Mark
    content_close: Mark

    @property
    def has_section(self) -> bool:
        return bool(self.section_open.core or self.section_close.core)

    @property
    def first_open(self) -> Mark:
        """The marker that opens the tool-call text (section, else call)."""
        return self.section_open if self.section_open.text else self.call_open

    def argument_keys(self) -> tuple[str, ...]:
        """Keys that may hold the arguments of a JSON call: the spec's (and its usual twin)."""
        key = self.json_body.arguments_key
        return ("arguments", "parameters") if key in ("arguments", "parameters") else (key,)


_CACHE: dict[int, tuple[Any, Shape]] = {}


def compile_shape(spec: Spec) -> Shape:
    """The compiled shape, cached per Spec object (Spec holds lists, so it is not hashable)."""
    hit = _CACHE.get(id(spec))
    if hit is not None and hit[0]() is spec:
        return hit[1]
    compiled = _build(spec)
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[id(spec)] = (weakref.ref(spec), compiled)
    return compiled


def _special(st: SpecialTool, flexible: int) -> SpecialShape:
    begin = read_mark(st.begin or "", flexible)
    end = read_mark(st.end, flexible)
    if st.body == "raw":
        return SpecialShape(st, tuple(st.names), "raw", st.argument, begin.core, None, end.core, None, tuple(st.stop))
    return SpecialShape(
        st, tuple(st.names), "python_call", st.argument, begin.core, begin.trail, end.core, end.lead, tuple(st.stop)
    )


def _openers(
    alternatives: list[tuple[str, str, Any, bool]],
) -> tuple[Optional[re.Pattern], dict[str, tuple[str, Any]], tuple[str, ...], Optional[re.Pattern], tuple[str, ...]]:
    """One regex over (core, kind, payload, word boundary) openers, longest first (so ">>>all"
    (content) wins over ">>>" (call) at the same position)."""
    alternatives = sorted(alternatives, key=lambda a: -len(a[0]))
    kinds: dict[str, tuple[str, Any]] = {}
    parts: list[str] = []
    call_parts: list[str] = []
    seen: dict[str, str] = {}
    for i, (core, kind, payload, boundary) in enumerate(alternatives):
        if core in seen:
            continue
        seen[core] = kind
        group = f"o{i}"
        kinds[group] = (kind, payload)
        lookahead = r"(?!\w)" if boundary else ""
        parts.append(f"(?P<{group}>{re.escape(core)}{lookahead})")
        if kind != "content":
            call_parts.append(parts[-1])
    return (
        re.compile("|".join(parts)) if parts else None,
        kinds,
        tuple(seen),
        re.compile("|".join(call_parts)) if call_parts else None,
        tuple(core for core, kind in seen.items() if kind != "content"),
    )


def _build(spec: Spec) -> Shape:
    tc = spec.tool_calls
    flex = tc.flexible_whitespace
    section_open = read_mark(tc.section.begin, flex)
    section_close = read_mark(tc.section.end, flex)
    call_open = read_mark(tc.call.begin, flex)
    call_close = read_mark(tc.call.end, flex)
    separator = read_mark(tc.separator, flex)
    suffix = read_mark(tc.name_body.name_suffix if tc.name_body else "", flex)
    # Without any begin marker a call can only be recognised at the start of the output.
    anchored = bool(tc.anchored or (not section_open.core and not call_open.core and tc.envelope is None))

    j_open_body = call_open.trail if call_open.core else None
    j_body_close = call_close.lead if call_close.core else None
    if suffix.core:
        j_name_suffix, j_suffix_args = suffix.lead, suffix.trail
    else:
        j_name_suffix, j_suffix_args = None, join(flex, suffix.lead, suffix.trail)
    # the whitespace a call's markers write at its outer edges belongs to the junctions around it
    call_lead = call_open.lead if call_open.core else join(flex, call_open.lead)
    call_trail = call_close.trail if call_close.core else join(flex, call_close.lead, call_close.trail)
    if separator.core:
        between = Between(
            join(flex, call_trail, separator.lead, force=True),
            separator.core,
            join(flex, separator.trail, call_lead, force=True),
        )
    else:
        between = Between(join(flex, call_trail, separator.lead, call_lead, force=True), "", None)
    j_section_call = join(flex, section_open.trail, call_lead, force=True) if section_open.core else None
    j_call_section = join(flex, call_trail, section_close.lead, force=True) if section_close.core else None
    # before a required call: tight, or what the format declares for a marker's edge
    first = section_open if section_open.text else call_open
    written_lead = first.lead.written if first.lead else 0
    first_lead = None if tc.implicit_prefix else Gap(max(LEADING_WS, flex, written_lead), written_lead)
    last_trail = section_close.trail if section_close.core else (None if tc.array else call_trail)

    specials = tuple(_special(st, flex) for st in tc.special_tools)
    name_specials: dict[str, SpecialShape] = {}
    for special in specials:
        if not special.open and special.body == "raw" and tc.body == "name":
            for name in special.names:
                name_specials.setdefault(name, special)

    content_open = read_mark(tc.content.begin, flex)
    content_close = read_mark(tc.content.end, flex)
    alternatives: list[tuple[str, str, Any, bool]] = []
    for mark in (content_open, content_close):
        if mark.core:
            boundary = mark.trail is not None and bool(re.match(r"\w", mark.core[-1]))
            alternatives.append((mark.core, "content", None, boundary))
    if not anchored and tc.envelope is None:
        if section_open.core:
            alternatives.append((section_open.core, "section", None, False))
        elif call_open.core:
            alternatives.append((call_open.core, "call", None, False))
    by_open: dict[str, list[SpecialShape]] = {}
    for special in specials:
        if special.open:
            by_open.setdefault(special.open, []).append(special)
    for core, group in by_open.items():
        alternatives.append((core, "special", tuple(group), False))
    openers, kinds, cores, call_openers, call_cores = _openers(alternatives)

    return Shape(
        flexible=flex,
        reasoning=(spec.reasoning.begin, spec.reasoning.end) if spec.reasoning else None,
        body=tc.body,
        array=tc.array,
        envelope=tc.envelope,
        json_body=tc.json_body,
        id_key=tc.json_body.id_key,
        ids_written=tc.ids.written_by_model,
        id_style=tc.ids.style,
        max_calls=tc.max_calls,
        anchored=anchored,
        implicit_prefix=tc.implicit_prefix,
        content_encoding=tc.content_encoding,
        section_open=section_open,
        section_close=section_close,
        section_close_optional=tc.section_end_optional,
        call_open=call_open,
        call_close=call_close,
        separator=separator,
        suffix=suffix,
        j_section_call=j_section_call,
        j_open_body=j_open_body,
        j_name_suffix=j_name_suffix,
        j_suffix_args=j_suffix_args,
        j_body_close=j_body_close,
        between=between,
        j_call_section=j_call_section,
        first_lead=first_lead,
        last_trail=last_trail,
        specials=specials,
        name_specials=name_specials,
        openers=openers,
        opener_kinds=kinds,
        opener_cores=cores,
        call_openers=call_openers,
        call_opener_cores=call_cores,
        content_open=content_open,
        content_close=content_close,
    )


def opens_reasoning(spec: Spec, prompt: str) -> bool:
    """Does the generation prompt leave the model inside a reasoning block (e.g. ends with <think>)?"""
    reasoning = spec.reasoning
    return bool(reasoning) and prompt.rstrip().endswith(reasoning.begin)
