"""The default implementation of every hook: interpret the format's spec.

Registered `trylast`, so any plugin that answers for its own format is asked first.
"""

from __future__ import annotations

from . import grammar, parse, render, stream
from .hookspecs import hookimpl


@hookimpl(trylast=True)
def render_prompt(format, request, template, add_generation_prompt, bos_token, eos_token):
    source = render.choose_template(format.spec, template)
    return render.render_prompt(
        format.spec,
        request,
        source,
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
    )


@hookimpl(trylast=True)
def choose_triggers(format, tools, tool_choice):
    return grammar.derive_triggers(format.spec, tools)


@hookimpl(trylast=True)
def build_grammar(format, tools, tool_choice, parallel_tool_calls, triggers):
    plan = grammar.build_grammar(
        format.spec, tools, tool_choice, parallel_tool_calls, triggers=triggers
    )
    return grammar.NO_GRAMMAR if plan is None else plan


@hookimpl(trylast=True)
def parse_output(format, text, tools, in_reasoning):
    return parse.parse_output(format.spec, text, tools, in_reasoning=in_reasoning)


@hookimpl(trylast=True)
def stream_parser(format, tools, in_reasoning):
    return stream.StreamParser(format.spec, tools, in_reasoning=in_reasoning)
