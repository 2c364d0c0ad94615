"""Chat templates rendered the way Hugging Face transformers' `apply_chat_template` renders them.

Templates come from model files, spec files and clients, so they are untrusted: they run in
Jinja2's `ImmutableSandboxedEnvironment` (`jinja_sandbox.py`) inside a sandbox worker process
with a time and a memory budget (`sandbox.py`, `limits.py`). Compiling is untrusted work too
(Jinja folds constants while compiling). Every error (syntax, runtime, a limit) comes out as a
`TemplateError` that names the template and the line, never as a bare traceback.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import sandbox
from .jinja_sandbox import (
    ENV,
    MAX_INDENT,
    MAX_POWER_EXPONENT,
    MAX_REPEAT_LENGTH,
    TOOL_VARIABLES,
    TemplateError,
    TemplateLimitError,
    TemplateRaised,
    strftime_now,
)

__all__ = [
    "MAX_INDENT",
    "MAX_POWER_EXPONENT",
    "MAX_REPEAT_LENGTH",
    "TOOL_VARIABLES",
    "ChatTemplate",
    "TemplateError",
    "TemplateLimitError",
    "TemplateRaised",
    "compile_expression",
    "compile_template",
    "evaluate_expression",
    "strftime_now",
    "environment",
    "template_references_tools",
    "undeclared_variables",
]


def environment() -> ImmutableSandboxedEnvironment:
    """The sandboxed environment, in this process (read-only use: do not change its globals).
    Rendering through it directly has the operation bounds but no time or memory limit."""
    return ENV


def _plain(context: dict[str, Any]) -> dict[str, Any]:
    # strftime_now is a global of the worker's environment; a function cannot travel as JSON
    return {k: v for k, v in context.items() if v is not strftime_now}


class ChatTemplate:
    """A compiled chat template. Obtain one with `compile_template`."""

    __slots__ = ("source", "name", "key")

    def __init__(self, source: str, name: str):
        self.source = source
        self.name = name
        self.key = sandbox.key_of("template", source, name)

    def render(self, **context: Any) -> str:
        """Render with the given variables; any failure (a limit included) is a `TemplateError`."""
        return sandbox.render(self.source, self.name, self.key, _plain(context))

    def __repr__(self) -> str:
        return f"ChatTemplate(name={self.name!r})"


@functools.lru_cache(maxsize=128)
def compile_template(source: str, name: str = "<template>") -> ChatTemplate:
    """Compile (once per source and name) a chat template in the sandbox.

    Raises `TemplateError("name:LINE: message")` on a syntax error or when compiling runs past
    the limits.
    """
    if not isinstance(source, str):
        raise TemplateError(f"template source must be a string, not {type(source).__name__}", name)
    template = ChatTemplate(source, name)
    sandbox.compile(source, name, template.key)
    return template


@functools.lru_cache(maxsize=256)
def compile_expression(source: str, name: str = "<expression>") -> Callable[..., Any]:
    """Compile a Jinja expression in the sandbox; the result is called with the variables.

    Errors, at compile or at evaluation time, are raised as `TemplateError`.
    """
    key = sandbox.key_of("expression", source, name)
    sandbox.compile_expression(source, name, key)

    def evaluate(**context: Any) -> Any:
        return sandbox.evaluate(source, name, key, _plain(context))

    return evaluate


def evaluate_expression(expression: str, **context: Any) -> Any:
    """Evaluate one Jinja expression in the sandbox (compiled once, cached); Undefined -> None."""
    return compile_expression(expression)(**context)


@functools.lru_cache(maxsize=128)
def undeclared_variables(source: str) -> frozenset[str]:
    """The variables a template reads from its context (parsed once per source, in the sandbox)."""
    return frozenset(sandbox.variables(source))


def template_references_tools(source: str) -> bool:
    """Whether the template reads the tool list (`tools`, `custom_tools`, or Firefunction's
    `functions`). A template that does not parse raises `TemplateError`."""
    return bool(undeclared_variables(source) & TOOL_VARIABLES)
