"""`response_format` as a grammar: the whole reply is one JSON object (any, or valid against the
request's schema), after the format's reasoning block when it has one.

Tools and a response_format are not combined (request validation refuses it): the reply is either
constrained by the tools' grammar or by this one.
"""

from __future__ import annotations

from typing import Any

from ..spec import Spec
from ..spec.shape import compile_shape
from .gbnf import gbnf_literal, until_rule
from .json_schema import GbnfBuilder
from .plan import GrammarPlan


def reply_grammar(spec: Spec, response_format: dict[str, Any], *, in_reasoning: bool = False) -> GrammarPlan:
    """The non-lazy grammar for a reply in `response_format` ({"type": "json_object"} or
    {"type": "json_schema", "json_schema": {"name", "schema"}}); raises `SchemaError` for a schema
    no value satisfies, with warnings for keywords the grammar does not enforce."""
    b = GbnfBuilder()
    if response_format.get("type") == "json_schema":
        spec_schema = response_format.get("json_schema") or {}
        schema = spec_schema.get("schema")
        name = spec_schema.get("name") or "reply"
        reply = b.add_schema(schema if schema is not None else {}, "reply", label=f"response_format {name}")
    else:
        reply = "object"
    lead = compile_shape(spec).first_lead
    ws = "" if lead is None else b.add_rule("lead", f"[ \\t\\r\\n]{{0,{lead.max}}}")
    parts = []
    if spec.reasoning is not None:
        r = spec.reasoning
        body = until_rule(b, r.end, "reasoning-text")
        if in_reasoning:
            parts.append(b.add_rule("reasoning", f"{body} {gbnf_literal(r.end)}"))
        else:
            parts.append(f'({b.add_rule("reasoning", f"{gbnf_literal(r.begin)} {body} {gbnf_literal(r.end)}")})?')
    parts += [ws, reply, "ws"]
    return GrammarPlan(b.render(" ".join(p for p in parts if p)), lazy=False, warnings=list(b.warnings))
