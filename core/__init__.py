"""chatformats: declarative tool-calling formats for local LLMs, run on llama.cpp."""

from .compat import install as _install_old_paths

_install_old_paths()  # before anything else, so old module paths resolve everywhere

# `render` and `parse` are also submodule names, so the package exports these under longer names.
from .grammar import NO_GRAMMAR, GrammarPlan
from .hooks import Format, Registry, get_registry, hookimpl
from .hooks.api import parse as parse_output, plan, render as render_request, stream_parser
from .hooks.api import use_grammar_check as _use_grammar_check
from .output import BufferedStreamParser, StreamParser, message_deltas
from .spec import Spec, SpecError, Triggers, load_spec_file

__version__ = "0.1.0"

__all__ = [
    "NO_GRAMMAR",
    "BufferedStreamParser",
    "Format",
    "GrammarPlan",
    "Registry",
    "Spec",
    "SpecError",
    "StreamParser",
    "Triggers",
    "get_registry",
    "hookimpl",
    "load_spec_file",
    "message_deltas",
    "parse_output",
    "plan",
    "render_request",
    "stream_parser",
]


def _validate_gbnf(gbnf: str) -> None:
    from .llama.gbnf import validate_gbnf  # loads llama.cpp on first use only

    validate_gbnf(gbnf)


_use_grammar_check(_validate_gbnf)


def __getattr__(name):
    # The llama.cpp runtime loads a native library: import it only when asked for.
    if name in ("ChatModel", "chat_handler"):
        from . import llama

        return getattr(llama, name)
    if name in ("build_tiny_model", "ensure_tiny_model"):
        from .testing import tiny_model

        return getattr(tiny_model, name)
    raise AttributeError(f"module 'chatformats' has no attribute {name!r}")
