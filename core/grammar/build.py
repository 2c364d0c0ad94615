"""Spec + tools + tool_choice -> a GBNF grammar and its lazy triggers (`GrammarPlan`).

The grammar is written from the compiled shape (`chatformats.spec.shape`), the same reading the
parser and the history writer use: markers are literal, whitespace comes only where the shape
declares a gap. It constrains each call's arguments to *that* tool's parameters schema. A lazy
grammar describes the tool-call text only, from the trigger on (llama.cpp feeds the trigger text
into it; after it completes only end-of-generation may follow). A non-lazy grammar describes the
whole output from the first token (tool_choice required/named, `triggers.lazy: false`, or an
envelope format whose output is one JSON object).

A model may repeat calls until it runs out of tokens; with parallel calls allowed the grammar lets
it write at most `MAX_PARALLEL_CALLS` (or the spec's `max_calls`), and the end of the calls (the
section's end marker, or end-of-generation) may follow every complete call.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ..spec import Spec, Triggers
from ..spec.shape import Junction, Mark, SpecialShape, compile_shape
from ..spec.writer import json_text
from .gbnf import gbnf_literal, kv_sequence, until_rule
from .json_schema import GbnfBuilder
from .offer import offer
from .plan import GrammarPlan
from .triggers import derived_triggers, trigger_words

MAX_PARALLEL_CALLS = 8
"""Most calls one message may hold when parallel calls are allowed and the spec sets no max_calls."""

_CACHE_SIZE = 64
_cache: dict[tuple[Any, ...], tuple[Spec, Optional[GrammarPlan]]] = {}


def build_grammar(
    spec: Spec,
    tools: Optional[list[dict[str, Any]]],
    tool_choice: Any = "auto",
    parallel_tool_calls: bool = True,
    triggers: Optional[Triggers] = None,
    in_reasoning: bool = False,
) -> Optional[GrammarPlan]:
    """The grammar that constrains tool calls of `spec` for this request.

    :param tools: OpenAI tool definitions (`{"type": "function", "function": {...}}`).
    :param tool_choice: "auto", "required", "none" or `{"type": "function", "function": {"name": N}}`.
    :param parallel_tool_calls: False allows exactly one call; True up to the spec's max_calls
        (default `MAX_PARALLEL_CALLS`).
    :param triggers: triggers chosen elsewhere (the `choose_triggers` hook); default
        `derive_triggers(spec, tools)`. Their `lazy: false` makes the grammar non-lazy.
    :param in_reasoning: the prompt opened a reasoning block, so a non-lazy grammar starts inside
        it (reasoning text, its end marker, then the calls); otherwise the block is optional and
        must be opened by its begin marker.
    :returns: None when no tool may be called (no tools, or tool_choice "none"). The plan's
        `warnings` name each schema keyword of each tool that the grammar does not enforce.
    :raises ValueError: for a tool_choice that is not understood or names a tool not offered;
        `SchemaError` (a ValueError) for a parameters schema no value satisfies.
    """
    key = (
        id(spec),
        json.dumps(tools, default=str),  # not sorted: property order shapes the grammar
        json.dumps(tool_choice, sort_keys=True, default=str),
        bool(parallel_tool_calls),
        "" if triggers is None else triggers.model_dump_json(),
        bool(in_reasoning),
    )
    hit = _cache.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    plan = _Planner(spec, tools or [], tool_choice, parallel_tool_calls, triggers, in_reasoning).plan()
    if len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = (spec, plan)
    return plan


def _seq(*parts: Optional[str]) -> str:
    """A GBNF sequence of the non-empty parts."""
    return " ".join(p for p in parts if p)


def _repeat(item: str, high: Optional[int]) -> str:
    """`item` zero to `high` times (None: unbounded)."""
    if high == 0:
        return ""
    if high is None:
        return f"({item})*"
    if high == 1:
        return f"({item})?"
    return f"({item}){{0,{high}}}"


class _Planner:
    def __init__(
        self,
        spec: Spec,
        tools: list[dict[str, Any]],
        tool_choice: Any,
        parallel: bool,
        triggers: Optional[Triggers] = None,
        in_reasoning: bool = False,
    ) -> None:
        self.spec = spec
        self.shape = compile_shape(spec)
        self.in_reasoning = in_reasoning
        self.given_triggers = triggers
        offered = offer(spec, tools, tool_choice)
        self.offered = offered
        names = [(t.get("function") or {}).get("name") if isinstance(t, dict) else None for t in tools]
        self.labels = {n: f"tools[{i}] {n}" for i, n in reversed(list(enumerate(names))) if isinstance(n, str)}
        self.mode, self.tools = offered.mode, offered.tools
        self.max_calls = 1 if not parallel else (self.shape.max_calls or MAX_PARALLEL_CALLS)
        # _tool_output swaps these two out while it builds the regular and the special calls
        self.regular = dict(offered.regular)
        self.specials = list(offered.specials)
        self.b = GbnfBuilder()

    # .. entry point

    def plan(self) -> Optional[GrammarPlan]:
        if self.mode == "none" or not self.tools:
            return None
        forced = self.mode in ("required", "named")
        if self.shape.envelope is not None:
            return self._done(self._whole(self._envelope(forced), forced=True), lazy=False)
        calls = self._tool_output()
        triggers = self.given_triggers
        if triggers is None:
            triggers = self.spec.triggers
            if not (triggers.words or triggers.tokens or triggers.patterns or triggers.patterns_full):
                triggers = Triggers(**derived_triggers(self.shape, self.offered), lazy=triggers.lazy)
        if forced or not triggers.lazy:
            return self._done(self._whole(calls, forced), lazy=False)
        return self._done(
            self.b.render(_seq(calls, self._gap(self.shape.last_trail), "ws")),
            lazy=True,
            words=list(triggers.words),
            tokens=list(triggers.tokens),
            patterns=list(triggers.patterns),
            patterns_full=list(triggers.patterns_full),
        )

    def _done(self, gbnf: str, **fields: Any) -> GrammarPlan:
        return GrammarPlan(gbnf, warnings=list(self.b.warnings), **fields)

    def _whole(self, calls: str, forced: bool) -> str:
        """Root for a non-lazy grammar: (reasoning) then the calls (or, if allowed, plain text)."""
        parts = []
        lead = self._lead()
        if self.spec.reasoning is not None:
            r = self.spec.reasoning
            body = until_rule(self.b, r.end, "reasoning-text")
            if self.in_reasoning:  # the prompt opened the block: the output starts inside it
                parts.append(self.b.add_rule("reasoning", f"{body} {gbnf_literal(r.end)}"))
            else:
                think = self.b.add_rule("reasoning", f"{gbnf_literal(r.begin)} {body} {gbnf_literal(r.end)}")
                parts.append(f"({think})?")
        calls = _seq(calls, self._gap(self.shape.last_trail))
        if forced or self.shape.envelope is not None:
            parts.append(_seq(lead, calls, "ws"))
        else:
            stops = trigger_words(self.shape, self.offered)
            content = until_rule(self.b, stops, "content") if stops else "any-text"
            parts.append(f"({content} | {content} {calls} ws)" if stops else f"({_seq(lead, calls)} ws | any-text)")
        return self.b.render(" ".join(parts))

    # .. whitespace and markers

    def _lead(self) -> str:
        """Whitespace before a required call: bounded tightly (a model can spend a whole reply on it)."""
        lead = self.shape.first_lead
        return "" if lead is None else self.b.add_rule("lead", f"[ \\t\\r\\n]{{0,{lead.max}}}")

    def _gap(self, junction: Junction) -> str:
        if junction is None:
            return ""
        return self.b.add_rule(f"gap-{junction.max}", f"[ \\t\\r\\n]{{0,{junction.max}}}")

    def _open(self, mark: Mark, first: bool) -> str:
        """An opening core; on the first piece the implicit prefix (already in the prompt) is optional."""
        prefix = self.shape.implicit_prefix if first else ""
        if prefix and mark.core.startswith(prefix):
            rest = mark.core[len(prefix) :]
            return _seq(f"({gbnf_literal(prefix)})?", gbnf_literal(rest) if rest else "")
        return gbnf_literal(mark.core) if mark.core else ""

    def _between(self) -> str:
        b = self.shape.between
        return _seq(self._gap(b.lead), gbnf_literal(b.core) if b.core else "", self._gap(b.trail))

    # .. one call

    def _arguments(self, name: str) -> str:
        return self.b.add_arguments(self.tools[name], name, label=self.labels.get(name, name))

    def _id_value(self) -> str:
        style = self.shape.id_style
        if style == "alnum9":
            return self.b.add_rule("call-id", '"\\"" [a-zA-Z0-9]{9} "\\""')
        if style == "index":
            return self.b.add_rule("call-id", '"\\"" [0-9]{1,4} "\\""')
        # an identifier, bounded so a model cannot run on inside it
        return self.b.add_rule("call-id", '"\\"" [a-zA-Z0-9_-]{1,40} "\\""')

    def _json_call(self, name: str) -> str:
        """{"name": NAME, "arguments": {...}} (keys from the spec) for one tool."""
        shape = self.shape
        body = shape.json_body

        def kv(key: str, value: str) -> str:
            return f'{gbnf_literal(json_text(key))} ws ":" ws {value} ws'

        fixed = " ".join(f'({kv(k, gbnf_literal(json_text(v)))} "," ws)?' for k, v in body.optional_fields.items())
        core = _seq(
            fixed,
            kv(body.name_key, gbnf_literal(json_text(name))),
            '"," ws',
            kv(body.arguments_key, self._arguments(name)),
        )
        if shape.id_key and shape.ids_written:
            # the id may come first (Command R7B), last (Mistral) or not at all (ids are made up
            # when parsing); when written, it has the spec's id style
            id_kv = kv(shape.id_key, self._id_value())
            core = f'({id_kv} "," ws {core} | {core} ("," ws {id_kv})?)'
        return self.b.add_rule(f"call-{name}", f'"{{" ws {core} "}}"')

    def _call_body(self, name: str) -> str:
        shape = self.shape
        if shape.body == "name":
            suffix = gbnf_literal(shape.suffix.core) if shape.suffix.core else ""
            text = _seq(
                gbnf_literal(name),
                self._gap(shape.j_name_suffix),
                suffix,
                self._gap(shape.j_suffix_args),
                self._arguments(name),
            )
            return self.b.add_rule(f"call-{name}", text)
        return self._json_call(name)

    def _wrapped(self, body: str, first: bool) -> str:
        shape = self.shape
        open_first = first and not shape.section_open.core
        return _seq(
            self._open(shape.call_open, open_first),
            self._gap(shape.j_open_body),
            body,
            self._gap(shape.j_body_close),
            gbnf_literal(shape.call_close.core) if shape.call_close.core else "",
        )

    # .. special tools

    def _special_calls(self, first: bool) -> tuple[list[str], list[str]]:
        """(closed, open) alternatives for the special tools: open ones run to end of output."""
        closed: list[str] = []
        opened: list[str] = []
        for st, names in self.specials:
            special = next(s for s in self.shape.specials if s.tool is st)
            prefix = self._special_prefix(special, names, first)
            if special.body == "python_call":
                calls = [self._python_call(name) for name in names]
                call_alt = calls[0] if len(calls) == 1 else "(" + " | ".join(calls) + ")"
                close = _seq(self._gap(special.close_gap), gbnf_literal(special.close) if special.close else "")
                closed.append(self.b.add_rule(f"special-{names[0]}", _seq(prefix, call_alt, close)))
            elif special.close:
                # raw code ends at its end text (the code is verbatim)
                code = until_rule(self.b, special.close, f"raw-{names[0]}")
                text = _seq(prefix, code, gbnf_literal(special.close))
                closed.append(self.b.add_rule(f"special-{names[0]}", text))
            else:
                opened.append(self.b.add_rule(f"special-{names[0]}", _seq(prefix, "any-text")))
        return closed, opened

    def _special_prefix(self, special: SpecialShape, names: list[str], first: bool) -> str:
        if special.open:
            return _seq(self._open(Mark(special.open, special.open, None, None), first), self._gap(special.open_gap))
        shape = self.shape  # a raw tool called by name, like the others
        name_alt = " | ".join(gbnf_literal(n) for n in names)
        return _seq(
            self._open(shape.call_open, first),
            self._gap(shape.j_open_body),
            f"({name_alt})",
            self._gap(shape.j_name_suffix),
            gbnf_literal(shape.suffix.core) if shape.suffix.core else "",
            self._gap(shape.j_suffix_args),
        )

    def _python_call(self, name: str) -> str:
        """NAME.call(k="v", n=1) with k from the tool's schema properties, values as Python literals."""
        schema = self.tools[name]
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = set(schema.get("required") or [])
        items = []
        for key, sub in properties.items():
            value = self.b.add_schema(sub, f"{name}-py-{key}", root=schema, python=True, label=self.labels.get(name, name))
            kv = self.b.add_rule(f"{name}-py-{key}-kv", f'{gbnf_literal(key)} ws "=" ws {value} ws')
            items.append((kv, key in required))
        args = kv_sequence(self.b, items, f"{name}-py")
        return self.b.add_rule(f"python-call-{name}", _seq(gbnf_literal(name + ".call("), "ws", args, '")"'))

    # .. sequences of calls

    def _items(self, first: bool, with_specials: bool) -> tuple[Optional[str], Optional[str]]:
        """(closed item rule, open item rule) for the first or a later call."""
        closed: list[str] = []
        if self.regular:
            bodies = self.b.add_rule("call-body", " | ".join(self._call_body(n) for n in self.regular))
            closed.append(self._wrapped(bodies, first))
        opened: list[str] = []
        if with_specials:
            special_closed, opened = self._special_calls(first)
            closed += special_closed
        tag = "first" if first else "next"
        closed_rule = self.b.add_rule(f"call-{tag}", " | ".join(closed)) if closed else None
        open_rule = self.b.add_rule(f"call-{tag}-open", " | ".join(opened)) if opened else None
        return closed_rule, open_rule

    def _sequence(self, with_specials: bool, name: str) -> Optional[str]:
        """first (between next){0,max-1}, optionally ending in an open (to end of output) call."""
        first, first_open = self._items(True, with_specials)
        later, later_open = self._items(False, with_specials)
        between = self._between()
        n = self.max_calls
        alts = []
        if first is not None:
            alts.append(_seq(first, _repeat(_seq(between, later), n - 1)))
            if later_open is not None and n >= 2:
                alts.append(_seq(first, _repeat(_seq(between, later), n - 2), between, later_open))
        if first_open is not None:
            alts.append(first_open)
        if not alts:
            return None
        return self.b.add_rule(name, " | ".join(alts))

    def _section_end(self) -> str:
        shape = self.shape
        if not shape.section_close.core:
            return ""
        end = _seq(self._gap(shape.j_call_section), gbnf_literal(shape.section_close.core))
        return f"({end})?" if shape.section_close_optional else end

    def _array_section(self) -> Optional[str]:
        if not self.regular:
            return None
        call = self.b.add_rule("call-body", " | ".join(self._json_call(n) for n in self.regular))
        more = _repeat(f'"," ws {call} ws', self.max_calls - 1)
        shape = self.shape
        begin = _seq(self._open(shape.section_open, True), self._gap(shape.j_section_call))
        body = _seq(begin, '"[" ws', call, "ws", more, '"]"', self._section_end())
        return self.b.add_rule("tool-calls", body)

    def _tool_output(self) -> str:
        """The tool-call text: a section of calls, and/or special calls."""
        shape = self.shape
        alts: list[str] = []
        if shape.array:
            section = self._array_section()
            if section:
                alts.append(section)
            specials = self._sequence_of_specials()
            if specials:
                alts.append(specials)
        elif shape.has_section:
            if self.regular:
                saved, self.specials = self.specials, []
                calls = self._sequence(False, "calls")
                self.specials = saved
                begin = _seq(self._open(shape.section_open, True), self._gap(shape.j_section_call))
                alts.append(self.b.add_rule("tool-calls", _seq(begin, calls, self._section_end())))
            specials = self._sequence_of_specials()
            if specials:
                alts.append(specials)
        else:
            calls = self._sequence(True, "tool-calls")
            if calls:
                alts.append(calls)
        if not alts:  # every offered tool is regular or special, so this means a spec/tool mismatch
            raise ValueError("no tool offered can be called in this format")
        return alts[0] if len(alts) == 1 else self.b.add_rule("tool-output", " | ".join(alts))

    def _sequence_of_specials(self) -> Optional[str]:
        if not self.specials:
            return None
        saved, self.regular = self.regular, {}
        seq = self._sequence(True, "special-calls")
        self.regular = saved
        return seq

    def _envelope(self, forced: bool) -> str:
        env = self.shape.envelope
        assert env is not None
        call = self.b.add_rule("call", " | ".join(self._json_call(n) for n in self.tools))
        one = f'"{{" ws {gbnf_literal(json_text(env.call_key))} ws ":" ws {call} ws "}}"'
        alts = [self.b.add_rule("tool-call", one)]
        if self.max_calls != 1:
            # parallel: {"tool_calls": [...]}, and a single {"tool_call": ...} stays acceptable
            more = _repeat(f'"," ws {call} ws', self.max_calls - 1)
            many = (
                f'"{{" ws {gbnf_literal(json_text(env.calls_key))} ws ":" ws "[" ws {call} ws '
                f'{more} "]" ws "}}"'
            )
            alts.insert(0, self.b.add_rule("tool-calls", many))
        if not forced:
            content = f'"{{" ws {gbnf_literal(json_text(env.content_key))} ws ":" ws string ws "}}"'
            alts.append(self.b.add_rule("response", content))
        return alts[0] if len(alts) == 1 else self.b.add_rule("envelope", " | ".join(alts))
