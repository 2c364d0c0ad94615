"""What a chat template wants, found by rendering probe conversations (once per template source).

Templates of one family disagree (vLLM's DeepSeek templates apply |tojson to the arguments and test
`'</think>' in content`; llama.cpp's concatenate a string and need null content), so a spec's `auto`
inputs ask the template itself.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

from ..spec import Spec
from .template import TemplateError, TemplateLimitError, compile_expression, compile_template, strftime_now

_PROBE = "PROBE"
_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "probe_tool",
        "description": "probe",
        "parameters": {"type": "object", "properties": {"probe_arg": {"type": "integer"}}},
    },
}
Variables = tuple[tuple[str, str], ...]  # a spec's inputs.variables, hashable for the caches


def _probe(source: str, variables: Variables, messages: list[dict[str, Any]], tools: Any) -> Optional[str]:
    """Render a probe conversation (with the spec's variables); None when the template fails."""
    context: dict[str, Any] = {
        "messages": messages,
        "tools": tools,
        "add_generation_prompt": True,
        "bos_token": "",
        "eos_token": "",
    }
    scope = {"tools": tools, "messages": messages, "strftime_now": strftime_now, "builtin_tool_names": []}
    try:
        for variable, expression in variables:
            context[variable] = compile_expression(expression, variable)(**scope)
        return compile_template(source, "chat_template").render(**context)
    except TemplateLimitError:
        raise  # not an answer about the template's wishes: the request fails with it
    except TemplateError:
        return None


@functools.lru_cache(maxsize=64)
def template_wants(source: str, variables: Variables = ()) -> tuple[str, str]:
    """(arguments, content_with_tool_calls) a template needs, found by rendering a probe call."""
    for content in (None, ""):
        for arguments in ('{"probe_arg": 1}', {"probe_arg": 1}):
            call = {
                "id": "abcdefghi",  # 9 alphanumerics: Mistral Nemo rejects other ids
                "type": "function",
                "function": {"name": "probe_tool", "arguments": arguments},
            }
            messages = [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": content, "tool_calls": [call]},
            ]
            out = _probe(source, variables, messages, [_PROBE_TOOL])
            if out is None:
                continue
            shown = "probe_arg" in out.rpartition("probe_tool")[2]  # the call, not the tool list
            if shown and '\\"probe_arg\\"' not in out:  # and not a double-encoded string
                return (
                    "string" if isinstance(arguments, str) else "object",
                    "null" if content is None else "empty",
                )
    return ("object", "null")


def wants(spec: Spec, template_source: Optional[str]) -> tuple[str, str]:
    """The spec's (arguments, content_with_tool_calls), with `auto` resolved by a probe."""
    arguments, content = spec.inputs.arguments, spec.inputs.content_with_tool_calls
    if "auto" in (arguments, content):
        probed = ("object", "null")
        if template_source is not None:
            probed = template_wants(template_source, tuple(spec.inputs.variables.items()))
        arguments = probed[0] if arguments == "auto" else arguments
        content = probed[1] if content == "auto" else content
    return arguments, content


@functools.lru_cache(maxsize=64)
def template_drops_system(source: str, variables: Variables = ()) -> bool:
    """Does this template reject or silently drop a system message? (probed once per source)"""
    messages = [{"role": "system", "content": _PROBE}, {"role": "user", "content": "x"}]
    out = _probe(source, variables, messages, None)
    return out is None or _PROBE not in out
