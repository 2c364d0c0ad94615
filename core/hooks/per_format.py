"""Built-in plugin: each per-format hook asks `format.hooks`, the object the format's plugin gave
with `register(spec, hooks=obj)`, and only for that format. So a plugin's hooks need no
`if format.name != ...: return None` guard. It is a built-in, registered before third-party
plugins: pluggy asks later registrations first, so their hooks come first, this one next and the
`trylast` spec defaults last.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional

from .format import FORMAT_HOOKS
from .hookspecs import hookimpl


def method_arguments(method: Callable[..., Any]) -> Optional[frozenset[str]]:
    """The argument names a hook method takes (None: it takes **kwargs, so all of them)."""
    return _arguments(getattr(method, "__func__", method))


@functools.lru_cache(maxsize=256)
def _arguments(function: Callable[..., Any]) -> Optional[frozenset[str]]:
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters if p.name != "self")


def bad_hooks(hooks: Any) -> list[str]:
    """What is wrong with a hooks object (empty when it is fine): no hook at all, or a method
    that takes an argument its hookspec does not give."""
    found = [name for name in FORMAT_HOOKS if callable(getattr(hooks, name, None))]
    if not found:
        return [f"hooks object {type(hooks).__name__} has none of {', '.join(FORMAT_HOOKS)}"]
    problems = []
    for name in found:
        wanted = method_arguments(getattr(hooks, name))
        unknown = sorted((wanted or frozenset()) - set(FORMAT_HOOKS[name]))
        if unknown:
            problems.append(f"hooks.{name} takes {', '.join(unknown)}, which the hook does not give")
    return problems


def _call(hook: str, **arguments: Any) -> Any:
    method = getattr(getattr(arguments["format"], "hooks", None), hook, None)
    if method is None:
        return None
    wanted = method_arguments(method)
    if wanted is not None:
        arguments = {k: v for k, v in arguments.items() if k in wanted}
    return method(**arguments)


# Each hook passes its own arguments (`locals()` at entry) on to the format's method.


@hookimpl
def render_prompt(format, request, template, add_generation_prompt, bos_token, eos_token):
    return _call("render_prompt", **locals())


@hookimpl
def choose_triggers(format, tools, tool_choice):
    return _call("choose_triggers", **locals())


@hookimpl
def build_grammar(format, tools, tool_choice, parallel_tool_calls, triggers, in_reasoning):
    return _call("build_grammar", **locals())


@hookimpl
def parse_output(format, text, tools, in_reasoning):
    return _call("parse_output", **locals())


@hookimpl
def stream_parser(format, tools, in_reasoning):
    return _call("stream_parser", **locals())
