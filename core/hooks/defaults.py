"""The default implementation of every hook: interpret the format's spec.

Registered `trylast`, so any plugin that answers for its own format is asked first.
"""

from __future__ import annotations

from ..grammar import NO_GRAMMAR, build_grammar as build_from_spec, derive_triggers
from ..output import StreamParser, parse_output as parse_with_spec
from ..prompt import render_prompt as render_with_spec
from .hookspecs import hookimpl


@hookimpl(trylast=True)
def render_prompt(format, request, template, add_generation_prompt, bos_token, eos_token):
    return render_with_spec(
        format.spec,
        request,
        template,
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
    )


@hookimpl(trylast=True)
def choose_triggers(format, tools, tool_choice):
    return derive_triggers(format.spec, tools, tool_choice)


@hookimpl(trylast=True)
def build_grammar(format, tools, tool_choice, parallel_tool_calls, triggers, in_reasoning):
    plan = build_from_spec(
        format.spec, tools, tool_choice, parallel_tool_calls, triggers=triggers, in_reasoning=in_reasoning
    )
    return NO_GRAMMAR if plan is None else plan


@hookimpl(trylast=True)
def parse_output(format, text, tools, in_reasoning):
    return parse_with_spec(format.spec, text, tools, in_reasoning=in_reasoning)


@hookimpl(trylast=True)
def stream_parser(format, tools, in_reasoning):
    return StreamParser(format.spec, tools, in_reasoning=in_reasoning)
