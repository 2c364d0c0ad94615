"""Chat templates rendered the way Hugging Face transformers' `apply_chat_template` renders them.

Templates come from model files and spec files, so they are untrusted: they run in Jinja2's
`ImmutableSandboxedEnvironment`. Every error (syntax or runtime) comes out as a `TemplateError`
that names the template and the line, never as a bare traceback.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Callable, Optional

import jinja2
from jinja2 import meta, nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "ChatTemplate",
    "TemplateError",
    "TemplateRaised",
    "compile_expression",
    "compile_template",
    "evaluate_expression",
    "strftime_now",
    "environment",
    "template_references_tools",
    "undeclared_variables",
]

# Variables through which a template shows the tool list (Firefunction v2 reads `functions`,
# Llama 3.x templates also accept `custom_tools`).
TOOL_VARIABLES = frozenset({"tools", "functions", "custom_tools"})

# Bounds on `*` / `**` so an untrusted template cannot build a gigantic string or number.
MAX_REPEAT_LENGTH = 1_000_000
MAX_POWER_EXPONENT = 1_000


class TemplateError(Exception):
    """A chat template failed to compile or to render.

    `str()` reads `name:LINE: message` (or `name: message` when the line is unknown).
    """

    def __init__(self, message: str, name: str = "<template>", lineno: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.name = name
        self.lineno = lineno

    def __str__(self) -> str:
        if self.lineno is None:
            return f"{self.name}: {self.message}"
        return f"{self.name}:{self.lineno}: {self.message}"

    def __reduce__(self):  # keep name/lineno through pickling (multiprocessing, pytest-xdist)
        return (type(self), (self.message, self.name, self.lineno))


class TemplateRaised(TemplateError):
    """The template itself rejected its input through `raise_exception(msg)`."""


def _raise_exception(message: Any = "") -> None:
    raise TemplateRaised(str(message))


def strftime_now(fmt: str) -> str:
    """The current local time formatted with `fmt` (HF's `strftime_now` global).

    `SOURCE_DATE_EPOCH` (the reproducible-builds convention) pins the clock, for repeatable prompts.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime(fmt)
    return datetime.now().strftime(fmt)


def _json_default(value: Any) -> Any:
    """What json.dumps cannot serialise itself: Undefined, mappings and generic iterables."""
    if isinstance(value, jinja2.Undefined):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        # |map, |select, |reject... return generators; minja serialises them as lists.
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: Optional[int] = None,
    separators: Optional[tuple[str, str]] = None,
    sort_keys: bool = False,
) -> str:
    """HF's `tojson`: plain json.dumps (no HTML escaping), non-ASCII kept as is."""
    if isinstance(value, jinja2.Undefined):
        value = None
    if separators is not None:
        separators = tuple(separators)  # a Jinja list literal arrives as a list
    return json.dumps(
        value,
        ensure_ascii=ensure_ascii,
        indent=indent,
        separators=separators,
        sort_keys=sort_keys,
        default=_json_default,
    )


class _ChatEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus bounds on repetition and powers (memory exhaustion)."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # Jinja returns an Undefined that prints as ""; failing loudly tells the author why.
        raise jinja2.exceptions.SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(count, int)
                    and len(seq) * count > MAX_REPEAT_LENGTH
                ):
                    raise jinja2.exceptions.SecurityError(
                        f"repetition result longer than {MAX_REPEAT_LENGTH}"
                    )
        elif (
            operator == "**"
            and isinstance(right, (int, float))
            and abs(right) > MAX_POWER_EXPONENT
        ):
            raise jinja2.exceptions.SecurityError(f"exponent larger than {MAX_POWER_EXPONENT}")
        return super().call_binop(context, operator, left, right)


class _GenerationBlock(Extension):
    """`{% generation %}...{% endgeneration %}`: HF marks assistant text for training masks with it;
    for rendering a prompt it just outputs its body."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _make_environment() -> ImmutableSandboxedEnvironment:
    env = _ChatEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", _GenerationBlock],
        keep_trailing_newline=False,
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


_ENV = _make_environment()


def environment() -> ImmutableSandboxedEnvironment:
    """The shared sandboxed environment (read-only use: do not change its globals)."""
    return _ENV


def _template_lineno(tb: Optional[TracebackType], filename: str) -> Optional[int]:
    """Line of the innermost template frame: jinja2 rewrites those frames to template lines."""
    lineno = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TemplateRaised):
        return exc.message
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"blocked by the sandbox: {exc}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _as_template_error(exc: Exception, name: str) -> TemplateError:
    lineno = _template_lineno(exc.__traceback__, name)
    cls = TemplateRaised if isinstance(exc, TemplateRaised) else TemplateError
    return cls(_describe(exc), name, lineno)


class ChatTemplate:
    """A compiled chat template. Obtain one with `compile_template`."""

    __slots__ = ("source", "name", "_template")

    def __init__(self, source: str, name: str, template: jinja2.Template):
        self.source = source
        self.name = name
        self._template = template

    def render(self, **context: Any) -> str:
        """Render with the given variables; any failure is raised as `TemplateError`."""
        try:
            return self._template.render(**context)
        except Exception as exc:  # noqa: BLE001 - every template failure becomes one error type
            raise _as_template_error(exc, self.name) from None

    def __repr__(self) -> str:
        return f"ChatTemplate(name={self.name!r})"


def _syntax_error(exc: jinja2.TemplateSyntaxError, name: str) -> TemplateError:
    return TemplateError(exc.message or str(exc), name, exc.lineno)


@functools.lru_cache(maxsize=128)
def compile_template(source: str, name: str = "<template>") -> ChatTemplate:
    """Compile (once per source and name) a chat template in the sandbox.

    Raises `TemplateError("name:LINE: message")` on a syntax error.
    """
    if not isinstance(source, str):
        raise TemplateError(f"template source must be a string, not {type(source).__name__}", name)
    try:
        code = _ENV.compile(source, name=name, filename=name)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, name) from None
    template = _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)
    return ChatTemplate(source, name, template)


@functools.lru_cache(maxsize=256)
def compile_expression(source: str, name: str = "<expression>") -> Callable[..., Any]:
    """Compile a Jinja expression in the sandbox; the result is called with the variables.

    Errors, at compile or at evaluation time, are raised as `TemplateError`.
    """
    try:
        expression = _ENV.compile_expression(source, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, name) from None

    def evaluate(**context: Any) -> Any:
        try:
            value = expression(**context)
        except Exception as exc:  # noqa: BLE001
            raise TemplateError(_describe(exc), name) from None
        return None if isinstance(value, jinja2.Undefined) else value

    return evaluate


def evaluate_expression(expression: str, **context: Any) -> Any:
    """Evaluate one Jinja expression in the sandbox (compiled once, cached); Undefined -> None."""
    return compile_expression(expression)(**context)


@functools.lru_cache(maxsize=128)
def undeclared_variables(source: str) -> frozenset[str]:
    """The variables a template reads from its context (parsed once per source)."""
    try:
        ast: nodes.Template = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, "<template>") from None
    return frozenset(meta.find_undeclared_variables(ast))


def template_references_tools(source: str) -> bool:
    """Whether the template reads the tool list (`tools`, `custom_tools`, or Firefunction's
    `functions`). A template that does not parse raises `TemplateError`."""
    return bool(undeclared_variables(source) & TOOL_VARIABLES)
