"""Spec + tools + tool_choice -> a GBNF grammar and its lazy triggers (`GrammarPlan`).

The grammar constrains each call's arguments to *that* tool's parameters schema. A lazy grammar
describes the tool-call text only, from the trigger on (llama.cpp feeds the trigger text into
it; after it completes only end-of-generation may follow). A non-lazy grammar describes the
whole output from the first token (tool_choice required/named, `triggers.lazy: false`, or an
envelope format whose output is one JSON object).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ..spec import Spec, SpecialTool, ToolCalls, Triggers
from .gbnf import gbnf_literal, kv_sequence, until_rule
from .json_schema import GbnfBuilder
from .offer import offer
from .plan import GrammarPlan
from .triggers import derived_triggers, trigger_words

_CACHE_SIZE = 64
_cache: dict[tuple[int, str, str, bool, str], tuple[Spec, Optional[GrammarPlan]]] = {}


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
    :param parallel_tool_calls: False allows exactly one call.
    :param triggers: triggers chosen elsewhere (the `choose_triggers` hook); default
        `derive_triggers(spec, tools)`. Their `lazy: false` makes the grammar non-lazy.
    :param in_reasoning: the prompt opened a reasoning block, so a non-lazy grammar starts inside
        it (reasoning text, its end marker, then the calls); otherwise the block is optional and
        must be opened by its begin marker.
    :returns: None when no tool may be called (no tools, or tool_choice "none").
    :raises ValueError: for a tool_choice that is not understood or names a tool not offered.
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


# -- grammar building ----------------------------------------------------------------------------


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
        self.in_reasoning = in_reasoning
        self.given_triggers = triggers
        self.tc: ToolCalls = spec.tool_calls
        offered = offer(spec, tools, tool_choice)
        self.offered = offered
        self.mode, self.tools = offered.mode, offered.tools
        self.max_calls = 1 if not parallel else self.tc.max_calls
        # _tool_output swaps these two out while it builds the regular and the special calls
        self.regular = dict(offered.regular)
        self.specials = list(offered.specials)
        self.b = GbnfBuilder()
        # Bounded, so a model cannot loop on whitespace between markers forever.
        self.b.add_rule("gap", "[ \\t\\r\\n]{0,32}")

    # .. entry point

    def plan(self) -> Optional[GrammarPlan]:
        if self.mode == "none" or not self.tools:
            return None
        forced = self.mode in ("required", "named")
        if self.tc.envelope is not None:
            return GrammarPlan(self._whole(self._envelope(forced), forced=True), lazy=False)
        calls = self._tool_output()
        triggers = self.given_triggers
        if triggers is None:
            triggers = self.spec.triggers
            if not (triggers.words or triggers.tokens or triggers.patterns or triggers.patterns_full):
                triggers = Triggers(**derived_triggers(self.tc, self.offered), lazy=triggers.lazy)
        if forced or not triggers.lazy:
            return GrammarPlan(self._whole(calls, forced), lazy=False)
        return GrammarPlan(
            self.b.render(f"{calls} ws"),
            lazy=True,
            words=list(triggers.words),
            tokens=list(triggers.tokens),
            patterns=list(triggers.patterns),
            patterns_full=list(triggers.patterns_full),
        )

    def _whole(self, calls: str, forced: bool) -> str:
        """Root for a non-lazy grammar: (reasoning) then the calls (or, if allowed, plain text)."""
        parts = []
        if self.spec.reasoning is not None:
            r = self.spec.reasoning
            body = until_rule(self.b, r.end, "reasoning-text")
            if self.in_reasoning:  # the prompt opened the block: the output starts inside it
                parts.append(self.b.add_rule("reasoning", f"{body} {self._marker(r.end)} gap"))
            else:
                think = self.b.add_rule("reasoning", f"{self._marker(r.begin)} {body} {self._marker(r.end)}")
                parts.append(f"({think} gap)?")
        if forced or self.tc.envelope is not None:
            parts.append(f"gap {calls} ws")
        else:
            stops = trigger_words(self.tc, self.offered) or []
            content = until_rule(self.b, stops, "content") if stops else "any-text"
            parts.append(f"({content} | {content} {calls} ws)" if stops else f"(ws {calls} ws | any-text)")
        return self.b.render(" ".join(parts))

    # .. markers

    def _marker(self, text: str, optional_prefix: str = "") -> str:
        """A marker literal; its leading/trailing whitespace becomes bounded whitespace."""
        if optional_prefix and text.startswith(optional_prefix):
            rest = self._marker(text[len(optional_prefix):])
            return f"({gbnf_literal(optional_prefix)})? {rest}".strip()
        if not text:
            return ""
        core = text.strip()
        if not core:
            return self._ws_run(text)
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()):]
        return " ".join(p for p in (self._ws_run(lead), gbnf_literal(core), self._ws_run(trail)) if p)

    def _ws_run(self, run: str) -> str:
        """Whitespace written in a marker: templates indent and wrap markers freely."""
        return "gap" if run else ""

    # .. one call

    def _arguments(self, name: str) -> str:
        return self.b.add_schema(self.tools[name], f"{name}-args")

    def _id_value(self) -> str:
        style = self.tc.ids.style
        if style == "alnum9":
            return self.b.add_rule("call-id", '"\\"" [a-zA-Z0-9]{9} "\\""')
        if style == "index":
            return self.b.add_rule("call-id", '"\\"" [0-9]{1,4} "\\""')
        # an identifier, bounded so a model cannot run on inside it
        return self.b.add_rule("call-id", '"\\"" [a-zA-Z0-9_-]{1,40} "\\""')

    def _json_call(self, name: str) -> str:
        """{"name": NAME, "arguments": {...}} (keys from the spec) for one tool."""
        body = self.tc.json_body

        def kv(key: str, value: str) -> str:
            return f'{gbnf_literal(json.dumps(key))} ws ":" ws {value} ws'

        fixed = " ".join(
            f'({kv(k, gbnf_literal(json.dumps(v, ensure_ascii=False)))} "," ws)?'
            for k, v in body.optional_fields.items()
        )
        core = " ".join(
            p
            for p in (
                fixed,
                kv(body.name_key, gbnf_literal(json.dumps(name, ensure_ascii=False))),
                '"," ws',
                kv(body.arguments_key, self._arguments(name)),
            )
            if p
        )
        if body.id_key:
            # the id may come first (Command R7B), last (Mistral) or not at all (ids are made up
            # when parsing); when written, it has the spec's id style
            id_kv = kv(body.id_key, self._id_value())
            core = f'({id_kv} "," ws {core} | {core} ("," ws {id_kv})?)'
        return self.b.add_rule(f"call-{name}", f'"{{" ws {core} "}}"')

    def _call_body(self, name: str) -> str:
        if self.tc.body == "name":
            suffix = self._marker(self.tc.name_body.name_suffix) if self.tc.name_body else ""
            return self.b.add_rule(
                f"call-{name}", _seq(gbnf_literal(name), suffix, self._arguments(name))
            )
        return self._json_call(name)

    def _wrapped(self, body: str, first: bool) -> str:
        begin = self._marker(self.tc.call.begin, self._implicit(first and not self._has_section()))
        return _seq(begin, body, self._marker(self.tc.call.end))

    def _implicit(self, applies: bool) -> str:
        return self.tc.implicit_prefix if applies else ""

    def _has_section(self) -> bool:
        return bool(self.tc.section.begin or self.tc.section.end)

    # .. special tools

    def _special_calls(self, first: bool) -> tuple[list[str], list[str]]:
        """(closed, open) alternatives for the special tools: open ones run to end of output."""
        closed: list[str] = []
        opened: list[str] = []
        for st, names in self.specials:
            prefix = self._special_prefix(st, names, first)
            if st.body == "python_call":
                calls = [self._python_call(name) for name in names]
                call_alt = calls[0] if len(calls) == 1 else "(" + " | ".join(calls) + ")"
                text = _seq(prefix, call_alt, self._marker(st.end))
                closed.append(self.b.add_rule(f"special-{names[0]}", text))
            elif st.end:
                # raw code ends at the exact end text (no whitespace leeway: it is verbatim)
                code = until_rule(self.b, st.end, f"raw-{names[0]}")
                text = _seq(prefix, code, gbnf_literal(st.end))
                closed.append(self.b.add_rule(f"special-{names[0]}", text))
            else:
                opened.append(self.b.add_rule(f"special-{names[0]}", _seq(prefix, "any-text")))
        return closed, opened

    def _special_prefix(self, st: SpecialTool, names: list[str], first: bool) -> str:
        implicit = self._implicit(first)
        if st.begin is not None:
            return self._marker(st.begin, implicit)
        begin = self._marker(self.tc.call.begin, implicit)
        if st.body == "raw" and self.tc.body == "name" and self.tc.name_body is not None:
            name_alt = " | ".join(gbnf_literal(n) for n in names)
            suffix = self._marker(self.tc.name_body.name_suffix)
            return _seq(begin, f"({name_alt})", suffix)
        return begin

    def _python_call(self, name: str) -> str:
        """NAME.call(k="v", n=1) with k from the tool's schema properties."""
        schema = self.tools[name]
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = set(schema.get("required") or [])
        items = []
        for key, sub in properties.items():
            if isinstance(sub, dict) and sub.get("type") == "boolean":
                value = self.b.add_rule("python-bool", '"True" | "False"')
            else:
                value = self.b.add_schema(sub, f"{name}-py-{key}", root=schema)
            kv = self.b.add_rule(f"{name}-py-{key}-kv", f'{gbnf_literal(key)} ws "=" ws {value} ws')
            items.append((kv, key in required))
        args = kv_sequence(self.b, items, f"{name}-py")
        return self.b.add_rule(
            f"python-call-{name}", _seq(gbnf_literal(name + ".call("), "ws", args, '")"')
        )

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
        """first (sep next){0,max-1}, optionally ending in an open (to end of output) call."""
        first, first_open = self._items(True, with_specials)
        later, later_open = self._items(False, with_specials)
        sep = self._marker(self.tc.separator) if self.tc.separator else "ws"
        n = self.max_calls
        alts = []
        if first is not None:
            alts.append(_seq(first, self._repeat(f"{sep} {later}", 0, None if n is None else n - 1)))
            if later_open is not None and (n is None or n >= 2):
                more = self._repeat(f"{sep} {later}", 0, None if n is None else n - 2)
                alts.append(_seq(first, more, sep, later_open))
        if first_open is not None:
            alts.append(first_open)
        if not alts:
            return None
        return self.b.add_rule(name, " | ".join(alts))

    @staticmethod
    def _repeat(item: str, low: int, high: Optional[int]) -> str:
        if high == 0:
            return ""
        if high is None:
            return f"({item})*"
        if high == 1:
            return f"({item})?"
        return f"({item}){{{low},{high}}}"

    def _array_section(self) -> Optional[str]:
        if not self.regular:
            return None
        bodies = self.b.add_rule("call-body", " | ".join(self._json_call(n) for n in self.regular))
        call = self.b.add_rule("call-next", self._wrapped(bodies, False))
        n = self.max_calls
        more = self._repeat(f'"," ws {call} ws', 0, None if n is None else n - 1)
        begin = self._marker(self.tc.section.begin, self.tc.implicit_prefix)
        body = _seq(begin, 'gap "[" ws', call, "ws", more, '"]"', self._section_end())
        return self.b.add_rule("tool-calls", body)

    def _section_end(self) -> str:
        end = self._marker(self.tc.section.end)
        if not end:
            return ""
        return f"(gap {end})?" if self.tc.section_end_optional else f"gap {end}"

    def _tool_output(self) -> str:
        """The tool-call text: a section of calls, and/or special calls."""
        alts: list[str] = []
        if self.tc.array:
            section = self._array_section()
            if section:
                alts.append(section)
            specials = self._sequence_of_specials()
            if specials:
                alts.append(specials)
        elif self._has_section():
            if self.regular:
                saved, self.specials = self.specials, []
                calls = self._sequence(False, "calls")
                self.specials = saved
                begin = self._marker(self.tc.section.begin, self.tc.implicit_prefix)
                body = _seq(begin, calls, self._section_end())
                alts.append(self.b.add_rule("tool-calls", body))
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
        env = self.tc.envelope
        assert env is not None
        call = self.b.add_rule("call", " | ".join(self._json_call(n) for n in self.tools))
        one = f'"{{" ws {gbnf_literal(json.dumps(env.call_key))} ws ":" ws {call} ws "}}"'
        alts = [self.b.add_rule("tool-call", one)]
        if self.max_calls != 1:
            # parallel: {"tool_calls": [...]}, and a single {"tool_call": ...} stays acceptable
            n = self.max_calls
            more = self._repeat(f'"," ws {call} ws', 0, None if n is None else n - 1)
            many = (
                f'"{{" ws {gbnf_literal(json.dumps(env.calls_key))} ws ":" ws "[" ws {call} ws '
                f'{more} "]" ws "}}"'
            )
            alts.insert(0, self.b.add_rule("tool-calls", many))
        if not forced:
            content = f'"{{" ws {gbnf_literal(json.dumps(env.content_key))} ws ":" ws string ws "}}"'
            alts.append(self.b.add_rule("response", content))
        return alts[0] if len(alts) == 1 else self.b.add_rule("envelope", " | ".join(alts))


def _seq(*parts: Optional[str]) -> str:
    """A GBNF sequence of the non-empty parts."""
    return " ".join(p for p in parts if p)
