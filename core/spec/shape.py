"""The one compiled reading of a spec's `tool_calls` wire shape: markers and openers.

The output scanner, the streaming parser and the runtime read the shape from here, so every step
agrees on what a marker is (edge whitespace flexible, word-boundary rules) and where calls open.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any, Optional

from .model import Spec, SpecialTool

_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Marker:
    """A marker with flexible edge whitespace: `core` is the marker without it."""

    core: str
    trail: str  # the whitespace the marker ends with (raw bodies skip it literally)
    boundary: bool  # core ends in a word character and the marker ended in whitespace


def marker(text: str) -> Optional[Marker]:
    """The marker `text` as written in a spec, or None for an empty or whitespace-only one."""
    core = text.strip()
    if not core:
        return None  # whitespace-only markers are covered by flexible whitespace
    trail = text[len(text.rstrip()) :]
    return Marker(core, trail, bool(trail) and bool(_WORD.match(core[-1])))


@dataclass(frozen=True)
class CompiledShape:
    reasoning: Optional[tuple[str, str]]
    section_begin: Optional[Marker]
    section_end: Optional[Marker]
    section_end_optional: bool
    call_begin: Optional[Marker]
    call_end: Optional[Marker]
    separator: Optional[Marker]
    name_suffix: Optional[Marker]
    name_suffix_raw: str
    body: str
    array: bool
    anchored: bool
    implicit_prefix: str
    envelope: Any
    json_body: Any
    max_calls: Optional[int]
    id_style: str
    content_encoding: str
    openers: Optional[re.Pattern]  # searched anywhere in the output
    opener_kinds: dict[str, tuple[str, Any]]  # regex group -> (kind, payload)
    opener_cores: tuple[str, ...]  # for holding back a partial marker while streaming
    call_openers: Optional[re.Pattern]  # the openers of calls only (looked for in reasoning)
    call_opener_cores: tuple[str, ...]
    name_specials: dict[str, SpecialTool]  # raw tools written in the normal name position


_CACHE: dict[int, tuple[Any, CompiledShape]] = {}


def compile_shape(spec: Spec) -> CompiledShape:
    """The compiled shape, cached per Spec object (Spec holds lists, so it is not hashable)."""
    hit = _CACHE.get(id(spec))
    if hit is not None and hit[0]() is spec:
        return hit[1]
    compiled = _build(spec)
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[id(spec)] = (weakref.ref(spec), compiled)
    return compiled


def _build(spec: Spec) -> CompiledShape:
    tc = spec.tool_calls
    section_begin = marker(tc.section.begin)
    call_begin = marker(tc.call.begin)
    # Without any begin marker a call can only be recognised at the start of the output.
    anchored = bool(tc.anchored or (section_begin is None and call_begin is None and tc.envelope is None))
    alternatives: list[tuple[str, str, Any, bool]] = []  # (core, kind, payload, boundary)
    for text in (tc.content.begin, tc.content.end):
        m = marker(text)
        if m is not None:
            alternatives.append((m.core, "content", None, m.boundary))
    if not anchored and tc.envelope is None:
        if section_begin is not None:
            alternatives.append((section_begin.core, "section", None, False))
        elif call_begin is not None:
            alternatives.append((call_begin.core, "call", None, False))
    specials_by_begin: dict[str, list[SpecialTool]] = {}
    name_specials: dict[str, SpecialTool] = {}
    for special in tc.special_tools:
        begin = marker(special.begin or "")
        if begin is not None:
            specials_by_begin.setdefault(begin.core, []).append(special)
        elif special.body == "raw" and tc.body == "name":
            for name in special.names:
                name_specials.setdefault(name, special)
    for core, group in specials_by_begin.items():
        alternatives.append((core, "special", tuple(group), False))
    # Longest first, so ">>>all" (content) wins over ">>>" (call) at the same position.
    alternatives.sort(key=lambda a: -len(a[0]))
    kinds: dict[str, tuple[str, Any]] = {}
    parts = []
    call_parts = []
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
    reasoning = (spec.reasoning.begin, spec.reasoning.end) if spec.reasoning else None
    return CompiledShape(
        reasoning=reasoning,
        section_begin=section_begin,
        section_end=marker(tc.section.end),
        section_end_optional=tc.section_end_optional,
        call_begin=call_begin,
        call_end=marker(tc.call.end),
        separator=marker(tc.separator),
        name_suffix=marker(tc.name_body.name_suffix) if tc.name_body else None,
        name_suffix_raw=tc.name_body.name_suffix if tc.name_body else "",
        body=tc.body,
        array=tc.array,
        anchored=anchored,
        implicit_prefix=tc.implicit_prefix,
        envelope=tc.envelope,
        json_body=tc.json_body,
        max_calls=tc.max_calls,
        id_style=tc.ids.style,
        content_encoding=tc.content_encoding,
        openers=re.compile("|".join(parts)) if parts else None,
        opener_kinds=kinds,
        opener_cores=tuple(seen),
        call_openers=re.compile("|".join(call_parts)) if call_parts else None,
        call_opener_cores=tuple(core for core, kind in seen.items() if kind != "content"),
        name_specials=name_specials,
    )


def opens_reasoning(spec: Spec, prompt: str) -> bool:
    """Does the generation prompt leave the model inside a reasoning block (e.g. ends with <think>)?"""
    reasoning = spec.reasoning
    return bool(reasoning) and prompt.rstrip().endswith(reasoning.begin)
