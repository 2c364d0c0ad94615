"""Qwen3-Coder for chatformats.

The spec (qwen3-coder.yaml) gives markers, triggers, stops and a template; the arguments are XML
rather than JSON, so this plugin overrides three steps for its own format: parsing (values converted
to the types the tool's schema declares), streaming (buffered) and the grammar.
"""

from importlib import resources

import chatformats

from .xml_calls import parse_xml_calls, xml_calls_gbnf

FORMAT = "qwen3-coder"


@chatformats.hookimpl
def register_formats(register):
    register(resources.files(__name__) / "qwen3-coder.yaml")


@chatformats.hookimpl
def parse_output(format, text, tools):
    if format.name != FORMAT:
        return None
    return parse_xml_calls(text, tools)


@chatformats.hookimpl
def stream_parser(format, tools):
    if format.name != FORMAT:
        return None
    from chatformats.stream import BufferedStreamParser

    return BufferedStreamParser(lambda text: parse_xml_calls(text, tools))


@chatformats.hookimpl
def build_grammar(format, tools, tool_choice, parallel_tool_calls, triggers):
    if format.name != FORMAT:
        return None
    from chatformats.grammar import GrammarPlan

    if isinstance(tool_choice, dict):
        name = tool_choice["function"]["name"]
        tools = [t for t in tools if t["function"]["name"] == name]
    lazy = tool_choice == "auto"
    return GrammarPlan(
        gbnf=xml_calls_gbnf(tools, max_calls=None if parallel_tool_calls else 1),
        lazy=lazy,
        words=list(triggers.words) if lazy else [],
        tokens=list(triggers.tokens) if lazy else [],
        patterns=list(triggers.patterns) if lazy else [],
        patterns_full=list(triggers.patterns_full) if lazy else [],
    )
