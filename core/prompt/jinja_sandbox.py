"""The Jinja2 sandbox that chat templates run in, behaving like HF `apply_chat_template`.

This file imports nothing from the package: the sandbox worker process (`sandbox_worker.py`)
loads it by path, and the parent uses it in process only when the worker is switched off. Its
operation bounds (repetition, powers, widths, lipsum) are the first line; the worker's time and
memory limits (`sandbox.py`) are the second. Every failure comes out as a `TemplateError` that
names the template and the line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Callable, Optional

import jinja2
from jinja2 import meta, nodes
from jinja2.ext import Extension
from jinja2.filters import do_center, do_indent
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

# Variables through which a template shows the tool list (Firefunction v2 reads `functions`,
# Llama 3.x templates also accept `custom_tools`).
TOOL_VARIABLES = frozenset({"tools", "functions", "custom_tools"})

# Bounds on single operations, so one expression cannot build a gigantic string or number.
MAX_REPEAT_LENGTH = 1_000_000  # `*` on strings and lists, `center` widths
MAX_POWER_EXPONENT = 1_000
MAX_INDENT = 1_000  # `indent` widths and `tojson(indent=...)`
MAX_LIPSUM = 100  # `lipsum` paragraphs and words per paragraph / 10


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


class TemplateLimitError(TemplateError):
    """A template ran past its time or memory budget (or took the sandbox process down)."""


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


def _bounded(value: Any, bound: int, what: str) -> Any:
    if isinstance(value, int) and abs(value) > bound:
        raise jinja2.exceptions.SecurityError(f"{what} larger than {bound}")
    return value


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
    if isinstance(indent, str) and len(indent) > MAX_INDENT:
        raise jinja2.exceptions.SecurityError(f"tojson indent longer than {MAX_INDENT}")
    return json.dumps(
        value,
        ensure_ascii=ensure_ascii,
        indent=_bounded(indent, MAX_INDENT, "tojson indent"),
        separators=separators,
        sort_keys=sort_keys,
        default=_json_default,
    )


def _center(value: str, width: int = 80) -> str:
    return do_center(value, _bounded(width, MAX_REPEAT_LENGTH, "center width"))


def _indent(value: str, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    if isinstance(width, str) and len(width) > MAX_INDENT:
        raise jinja2.exceptions.SecurityError(f"indent longer than {MAX_INDENT}")
    return do_indent(value, _bounded(width, MAX_INDENT, "indent width"), first, blank)


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    _bounded(n, MAX_LIPSUM, "lipsum paragraphs")
    _bounded(max, MAX_LIPSUM * 10, "lipsum words")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


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
        elif operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_POWER_EXPONENT:
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
    env.filters["center"] = _center
    env.filters["indent"] = _indent
    env.globals["lipsum"] = _lipsum
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = _make_environment()


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
    if isinstance(exc, RecursionError):
        return "nested too deeply (RecursionError)"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def as_template_error(exc: Exception, name: str) -> TemplateError:
    """Any failure while running a template, as a TemplateError naming it (and its line)."""
    if isinstance(exc, TemplateError) and not isinstance(exc, TemplateRaised):
        return exc
    lineno = _template_lineno(exc.__traceback__, name)
    cls = TemplateRaised if isinstance(exc, TemplateRaised) else TemplateError
    return cls(_describe(exc), name, lineno)


def _syntax_error(exc: jinja2.TemplateSyntaxError, name: str) -> TemplateError:
    return TemplateError(exc.message or str(exc), name, exc.lineno)


def compile_source(source: str, name: str) -> jinja2.Template:
    """Compile a chat template in the sandbox (Jinja folds constants here: untrusted work too)."""
    if not isinstance(source, str):
        raise TemplateError(f"template source must be a string, not {type(source).__name__}", name)
    try:
        code = ENV.compile(source, name=name, filename=name)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, name) from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - constant folding runs filters at compile time
        raise as_template_error(exc, name) from None
    return ENV.template_class.from_code(ENV, code, ENV.make_globals(None), None)


def render_compiled(template: jinja2.Template, name: str, context: dict[str, Any]) -> str:
    try:
        return template.render(**context)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - every template failure becomes one error type
        raise as_template_error(exc, name) from None


def compile_expression_source(source: str, name: str) -> Callable[..., Any]:
    """A Jinja expression compiled in the sandbox; call the result with the variables."""
    try:
        return ENV.compile_expression(source, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, name) from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise as_template_error(exc, name) from None


def evaluate_compiled(expression: Callable[..., Any], name: str, context: dict[str, Any]) -> Any:
    """An expression's value (Undefined -> None); failures as TemplateError without a line."""
    try:
        value = expression(**context)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TemplateError(_describe(exc), name) from None
    return None if isinstance(value, jinja2.Undefined) else value


def undeclared(source: str, name: str = "<template>") -> list[str]:
    """The variables a template reads from its context, sorted."""
    try:
        ast: nodes.Template = ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, name) from None
    except RecursionError as exc:
        raise as_template_error(exc, name) from None
    return sorted(meta.find_undeclared_variables(ast))
