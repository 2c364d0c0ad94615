"""The public functions: each asks the plugin hooks, so a plugin's override applies everywhere."""

from __future__ import annotations

from typing import Any, Optional

from .registry import Format, Registry, get_registry


def get_format(name: str | Format, registry: Optional[Registry] = None) -> Format:
    if isinstance(name, Format):
        return name
    return (registry or get_registry()).get(name)


def _hook(fmt: Format):
    return fmt.plugins.pm.hook


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
    return _hook(fmt).render_prompt(
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
):
    """The grammar and triggers for a request, or None when it needs no grammar.

    The grammar is checked by llama.cpp's own GBNF parser (`validate=True`) before it is returned,
    because an invalid grammar crashes the process inside a sampler.
    """
    from .grammar import NO_GRAMMAR

    fmt = get_format(format, registry)
    if not tools or tool_choice == "none":
        return None
    hook = _hook(fmt)
    triggers = hook.choose_triggers(format=fmt, tools=tools, tool_choice=tool_choice)
    result = hook.build_grammar(
        format=fmt,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel_tool_calls,
        triggers=triggers,
        in_reasoning=in_reasoning,
    )
    if result is None or result is NO_GRAMMAR:
        return None
    if validate:
        from .llama_grammar import validate_gbnf

        validate_gbnf(result.gbnf)
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
    return _hook(fmt).parse_output(format=fmt, text=text, tools=tools, in_reasoning=in_reasoning)


def stream_parser(
    format: str | Format,
    tools: Optional[list[dict[str, Any]]] = None,
    *,
    in_reasoning: bool = False,
    registry: Optional[Registry] = None,
):
    """An incremental parser for streamed output (see chatformats.output.stream)."""
    fmt = get_format(format, registry)
    return _hook(fmt).stream_parser(format=fmt, tools=tools, in_reasoning=in_reasoning)
