"""Hook specifications for chatformats plugins.

A plugin is a module (or object) with functions marked ``@chatformats.hookimpl``. Built-in formats
use exactly these hooks. Every step has a default implementation in ``chatformats.hooks.defaults``
that interprets the format's spec, registered ``trylast`` so a plugin's implementation is asked
first.

Hooks for one format only are given with the format: ``register(spec, hooks=obj)`` where ``obj``
has methods named like the hooks below (any subset of their arguments); they are called for that
format alone (``chatformats.hooks.per_format``). A global implementation of a per-format hook is
called for every format and should return ``None`` for formats that are not its own.

A hook implementation may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import pluggy

if TYPE_CHECKING:
    from ..grammar import GrammarPlan
    from ..output import StreamParser
    from ..spec import Triggers
    from .format import Format

hookspec = pluggy.HookspecMarker("chatformats")
hookimpl = pluggy.HookimplMarker("chatformats")


# -------------------------------------------------------------------------
# Registration
# -------------------------------------------------------------------------


@hookspec
def register_formats(register: Callable[..., None]) -> None:
    """Register the formats this plugin provides.

    Called once per plugin when the registry is built. ``register`` is a callback:
    ``register(spec, hooks=None)`` where ``spec`` is a :class:`chatformats.Spec`, a path to a YAML
    spec file, or an ``importlib.resources`` traversable of one, and ``hooks`` an optional object
    whose methods (``render_prompt``, ``choose_triggers``, ``build_grammar``, ``parse_output``,
    ``stream_parser``) are called for this format only. Errors in a spec or a hooks object are
    reported by ``formats list``/``formats check`` with this plugin's name; they do not stop other
    formats.

    :param register: the callback that adds one format.
    """


# -------------------------------------------------------------------------
# Prompt rendering
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def render_prompt(
    format: "Format",
    request: dict[str, Any],
    template: Optional[str],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
) -> Optional[str]:
    """Render an OpenAI chat-completion request into the model's prompt.

    Stops at the first non-None result.

    :param format: the format in use (``format.spec`` is its spec).
    :param request: the OpenAI request body (``messages``, ``tools``, ``tool_choice``, ...).
    :param template: the model's own chat template source, or ``None`` if it has none.
    :param add_generation_prompt: end the prompt where the assistant's reply begins.
    :param bos_token: the model's begin-of-sequence text.
    :param eos_token: the model's end-of-sequence text.
    :returns: the prompt text, or ``None`` to leave it to the next implementation.
    """


# -------------------------------------------------------------------------
# Constrained decoding
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def choose_triggers(
    format: "Format", tools: list[dict[str, Any]], tool_choice: Any
) -> Optional["Triggers"]:
    """Choose what switches the lazy tool-call grammar on.

    Stops at the first non-None result. The default takes ``spec.triggers`` and derives what is
    missing from the tool-call shape (e.g. the section's begin marker as a trigger word).

    :param format: the format in use.
    :param tools: the request's tools (OpenAI shape).
    :param tool_choice: ``"auto"``, ``"required"``, ``"none"`` or ``{"type": "function", ...}``.
    :returns: a :class:`chatformats.Triggers`, or ``None`` to pass.
    """


@hookspec(firstresult=True)
def build_grammar(
    format: "Format",
    tools: list[dict[str, Any]],
    tool_choice: Any,
    parallel_tool_calls: bool,
    triggers: "Triggers",
    in_reasoning: bool,
) -> Optional["GrammarPlan"]:
    """Build the GBNF grammar (and its triggers) that constrains tool calls.

    Stops at the first non-None result. Return :data:`chatformats.NO_GRAMMAR` when the
    request needs no grammar (no tools, or ``tool_choice="none"``). Every grammar is validated
    by llama.cpp's own parser before it reaches a sampler.

    :param format: the format in use.
    :param tools: the request's tools (OpenAI shape); never empty.
    :param tool_choice: as for :func:`choose_triggers`.
    :param parallel_tool_calls: ``False`` allows at most one call.
    :param triggers: the result of :func:`choose_triggers`.
    :param in_reasoning: the prompt opened a reasoning block (e.g. it ends with ``<think>``).
    :returns: a :class:`chatformats.GrammarPlan`, or ``None`` to pass.
    """


# -------------------------------------------------------------------------
# Output parsing
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def parse_output(
    format: "Format",
    text: str,
    tools: Optional[list[dict[str, Any]]],
    in_reasoning: bool,
) -> Optional[dict[str, Any]]:
    """Parse a model's complete output into an OpenAI assistant message.

    Stops at the first non-None result. Must never raise on model output: text that is not a
    well-formed call stays in ``content``.

    :param format: the format in use.
    :param text: the generated text (special tokens included as text).
    :param tools: the request's tools, or ``None``.
    :param in_reasoning: the prompt ended inside a reasoning block (e.g. with ``<think>``).
    :returns: ``{"role": "assistant", "content": ..., "tool_calls"?: [...], "reasoning_content"?: ...}``,
        or ``None`` to pass.
    """


@hookspec(firstresult=True)
def stream_parser(
    format: "Format",
    tools: Optional[list[dict[str, Any]]],
    in_reasoning: bool,
) -> Optional["StreamParser"]:
    """Make an incremental parser for a streamed reply.

    Stops at the first non-None result. A plugin that overrides :func:`parse_output` should also
    override this hook (``chatformats.BufferedStreamParser`` wraps any whole-text parser).

    :param format: the format in use.
    :param tools: the request's tools, or ``None``.
    :param in_reasoning: the prompt ended inside a reasoning block.
    :returns: an object with ``feed(text) -> list[delta]`` and ``finish() -> (list[delta], message)``,
        or ``None`` to pass.
    """
