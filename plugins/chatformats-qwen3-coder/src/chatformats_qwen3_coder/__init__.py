"""Qwen3-Coder for chatformats.

The spec (qwen3-coder.yaml) gives markers, triggers, stops and a template; the arguments are XML
rather than JSON, so this plugin gives the format hooks of its own for three steps: parsing (values
converted to the types the tool's schema declares), streaming (buffered) and the grammar. They are
registered with the spec, so chatformats calls them for qwen3-coder only.
"""

from importlib import resources

import chatformats

from .xml_calls import parse_xml_calls, xml_calls_grammar


class Qwen3CoderHooks:
    """The per-format hooks of qwen3-coder (arguments named as in chatformats' hookspecs)."""

    def parse_output(self, text, tools):
        return parse_xml_calls(text, tools)

    def stream_parser(self, tools):
        return chatformats.BufferedStreamParser(lambda text: parse_xml_calls(text, tools))

    def build_grammar(self, tools, tool_choice, parallel_tool_calls, triggers):
        if isinstance(tool_choice, dict):
            name = tool_choice["function"]["name"]
            tools = [t for t in tools if t["function"]["name"] == name]
        lazy = tool_choice == "auto"
        gbnf, warnings = xml_calls_grammar(tools, max_calls=None if parallel_tool_calls else 1)
        return chatformats.GrammarPlan(
            gbnf=gbnf,
            lazy=lazy,
            warnings=warnings,
            words=list(triggers.words) if lazy else [],
            tokens=list(triggers.tokens) if lazy else [],
            patterns=list(triggers.patterns) if lazy else [],
            patterns_full=list(triggers.patterns_full) if lazy else [],
        )


@chatformats.hookimpl
def register_formats(register):
    register(resources.files(__name__) / "qwen3-coder.yaml", hooks=Qwen3CoderHooks())
