"""The public functions: each asks the plugin hooks, so a plugin's override applies everywhere.

Hooks come from `registry` (default: the process-wide `get_registry()`), never from the format:
a `Format` built by hand works the same as a registered one.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..grammar import NO_GRAMMAR, GrammarPlan, SchemaError, reply_grammar
from ..prompt import (
    RequestError,
    ValidRequest,
    validate_request,
    validate_response_format,
    validate_tool_choice,
    validate_tools,
)
from .format import Format
from .registry import Registry, get_registry


# How `plan(validate=True)` checks a grammar: with llama.cpp's own parser, which the package
# installs (chatformats/__init__.py), so this seam does not import the host.
_grammar_check: Optional[Callable[[str], None]] = None


def use_grammar_check(check: Callable[[str], None]) -> None:
    """Set the function that raises for a grammar llama.cpp would not accept."""
    global _grammar_check
    _grammar_check = check


def get_format(name: str | Format, registry: Optional[Registry] = None) -> Format:
    if isinstance(name, Format):
        return name
    return (registry or get_registry()).get(name)


def _hook(registry: Optional[Registry]):
    return (registry or get_registry()).plugins.pm.hook


def render(
    format: str | Format,
    request: dict[str, Any],
    template: Optional[str] = None,
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    registry: Optional[Registry] = None,
) -> str:
    """Render an OpenAI request into the prompt for `format` (with the model's `template`)."""
    fmt = get_format(format, registry)
    return _hook(registry).render_prompt(
        format=fmt,
        request=request,
        template=template,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
    )


def plan(
    format: str | Format,
    tools: Optional[list[dict[str, Any]]],
    tool_choice: Any = "auto",
    parallel_tool_calls: bool = True,
    *,
    in_reasoning: bool = False,
    registry: Optional[Registry] = None,
    validate: bool = True,
    response_format: Optional[dict[str, Any]] = None,
) -> Optional[GrammarPlan]:
    """The grammar and triggers for a request, or None when it needs no grammar.

    `tools` and `tool_choice` are checked as a request's are (`RequestError`). The grammar is
    checked by llama.cpp's own GBNF parser (`validate=True`) before it is returned, because an
    invalid grammar crashes the process inside a sampler. A `response_format` (json_object or
    json_schema) constrains the whole reply when no tool may be called. The plan's `warnings`
    name what the grammar does not enforce; a schema no value satisfies is a `RequestError`.
    """
    response_format = validate_response_format(response_format)
    if (not tools or tool_choice == "none") and response_format is None:
        return None
    tools = validate_tools(tools)
    tool_choice = validate_tool_choice(tool_choice, [t["function"]["name"] for t in tools])
    request = {
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel_tool_calls,
        "response_format": response_format,
    }
    return _plan(get_format(format, registry), request, in_reasoning, registry, validate)


def plan_request(
    format: str | Format,
    request: dict[str, Any],
    *,
    in_reasoning: bool = False,
    registry: Optional[Registry] = None,
    validate: bool = True,
) -> Optional[GrammarPlan]:
    """`plan` for the tools, tool_choice, parallel_tool_calls and response_format of a whole
    request (validated here unless it is a `ValidRequest` already): the tools' grammar when the
    model may call one, else a non-lazy grammar for the whole reply when it asks for JSON."""
    if not isinstance(request, ValidRequest):
        request = validate_request(request)
    return _plan(get_format(format, registry), request, in_reasoning, registry, validate)


def _plan(
    fmt: Format, request: dict[str, Any], in_reasoning: bool, registry: Optional[Registry], validate: bool
) -> Optional[GrammarPlan]:
    tools, tool_choice = request["tools"], request["tool_choice"]
    response_format = request.get("response_format")
    try:
        if not tools or tool_choice == "none":
            if response_format is None:
                return None
            result: Optional[GrammarPlan] = reply_grammar(fmt.spec, response_format, in_reasoning=in_reasoning)
        else:
            hook = _hook(registry)
            triggers = hook.choose_triggers(format=fmt, tools=tools, tool_choice=tool_choice)
            result = hook.build_grammar(
                format=fmt,
                tools=tools,
                tool_choice=tool_choice,
                parallel_tool_calls=request["parallel_tool_calls"],
                triggers=triggers,
                in_reasoning=in_reasoning,
            )
    except SchemaError as exc:
        raise RequestError(str(exc)) from None
    if result is None or result is NO_GRAMMAR:
        return None
    if validate:
        if _grammar_check is None:
            raise RuntimeError("no grammar check installed (import chatformats)")
        _grammar_check(result.gbnf)
    return result


def parse(
    format: str | Format,
    text: str,
    tools: Optional[list[dict[str, Any]]] = None,
    *,
    in_reasoning: bool = False,
    registry: Optional[Registry] = None,
) -> dict[str, Any]:
    """Parse model output into an OpenAI assistant message. Never raises on model output."""
    fmt = get_format(format, registry)
    return _hook(registry).parse_output(format=fmt, text=text, tools=tools, in_reasoning=in_reasoning)


def stream_parser(
    format: str | Format,
    tools: Optional[list[dict[str, Any]]] = None,
    *,
    in_reasoning: bool = False,
    registry: Optional[Registry] = None,
):
    """An incremental parser for streamed output (see chatformats.output.stream)."""
    fmt = get_format(format, registry)
    return _hook(registry).stream_parser(format=fmt, tools=tools, in_reasoning=in_reasoning)
