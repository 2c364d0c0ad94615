"""OpenAI chat-completion request -> prompt string, driven by a spec's `inputs`.

`prepare_context` validates the request (once: a `ValidRequest` is trusted as it is), applies the
spec's polyfills (`polyfill`) and builds the template variables; `render_prompt` renders them with
the template `choose_template` picks. The caller's request itself is never modified.
"""

from __future__ import annotations

from typing import Any, Optional

from ..spec import Spec
from .polyfill import add_system_prompt, merge_system_into_user, polyfill_messages, template_tools
from .probe import template_drops_system, wants
from .request import RequestError, tool_names, validate_request
from .template import compile_expression, compile_template, strftime_now, template_references_tools

__all__ = ["choose_template", "prepare_context", "render_prompt"]


def choose_template(spec: Spec, model_template: Optional[str]) -> str:
    """The template to render with: the spec's own or the model's, per `inputs.use_template`.

    Raises `RequestError` when there is none to use.
    """
    own = spec.inputs.template
    mode = spec.inputs.use_template
    if mode == "always":
        if own is None:
            raise RequestError(
                f"format {spec.name!r} says inputs.use_template: always but has no inputs.template"
            )
        return own
    if (
        mode == "when_model_template_lacks_tools"
        and own is not None
        and (model_template is None or not template_references_tools(model_template))
    ):
        return own
    if model_template is None:
        raise RequestError(
            f"no chat template: the model has none and format {spec.name!r} has no "
            "inputs.template; pass a template (chat_template=...) or pick a format that has one"
        )
    return model_template


def prepare_context(
    spec: Spec,
    request: dict[str, Any],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    extra_context: Optional[dict[str, Any]] = None,
    template_source: Optional[str] = None,
) -> dict[str, Any]:
    """Validate `request` and build the template variables, polyfilled per `spec.inputs`.

    `template_source` is only needed for the `auto` inputs (the template is probed once).
    Raises `RequestError` for an invalid request and `TemplateError` when a spec expression fails.
    """
    request = validate_request(request)
    request_tools = request["tools"] or []
    tool_choice, parallel = request["tool_choice"], request["parallel_tool_calls"]
    tools_active = bool(request_tools) and tool_choice != "none"
    messages = polyfill_messages(spec, request.messages_checked, wants(spec, template_source), tools_active)

    tools = template_tools(request_tools) if tools_active else None
    shown_names = tool_names(request_tools) if tools else []

    if tools and spec.system_prompt:
        prompt = compile_template(spec.system_prompt, f"{spec.name}:system_prompt").render(
            tools=tools, parallel=parallel, tool_choice=tool_choice
        )
        messages = add_system_prompt(messages, prompt)
    system = spec.inputs.system
    if system == "merge_into_first_user" or (
        system == "auto"
        and template_source is not None
        and any(m["role"] == "system" for m in messages)
        and template_drops_system(template_source, tuple(spec.inputs.variables.items()))
    ):
        messages = merge_system_into_user(messages)

    special_tools = spec.tool_calls.special_tools
    builtin_tool_names = [n for n in shown_names if any(n in s.names for s in special_tools)]
    context: dict[str, Any] = {
        "messages": messages,
        "tools": tools,
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
    }
    for special in special_tools:
        present = [n for n in shown_names if n in special.names]
        # Only when non-empty: Llama 3.1 tests `builtin_tools is defined` and prints "Tools: ".
        if special.render_variable and present:
            context.setdefault(special.render_variable, [])
            context[special.render_variable] += present
    if spec.inputs.variables:
        scope = {
            "tools": tools,
            "messages": messages,
            "strftime_now": strftime_now,
            "builtin_tool_names": builtin_tool_names,
        }
        for variable, expression in spec.inputs.variables.items():
            evaluate = compile_expression(expression, f"{spec.name}:inputs.variables.{variable}")
            context[variable] = evaluate(**scope)
    if extra_context:
        context.update(extra_context)
    return context


def render_prompt(
    spec: Spec,
    request: dict[str, Any],
    template_source: Optional[str],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    extra_context: Optional[dict[str, Any]] = None,
) -> str:
    """Render `request` into the prompt string.

    `template_source` is the model's chat template (or None); `choose_template` decides whether
    the spec's own template replaces it (passing its choice again is harmless: the choice is
    idempotent). Raises `RequestError` (bad request) or `TemplateError` (the template failed).
    """
    source = choose_template(spec, template_source)
    own = source == spec.inputs.template
    template = compile_template(source, f"{spec.name}:inputs.template" if own else "chat_template")
    context = prepare_context(
        spec,
        request,
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
        extra_context=extra_context,
        template_source=source,
    )
    return template.render(**context)
