"""chatformats: declarative tool-calling formats for local LLMs, run on llama.cpp."""

from .compat import install as _install_old_paths

_install_old_paths()  # before anything else, so old module paths resolve everywhere

# `render` and `parse` are also submodule names, so the package exports these under longer names.
from .api import parse as parse_output, plan, render as render_request, stream_parser
from .hookspecs import hookimpl
from .registry import Format, Registry, get_registry
from .spec import Spec, SpecError, load_spec_file

__version__ = "0.1.0"

__all__ = [
    "Format",
    "Registry",
    "Spec",
    "SpecError",
    "get_registry",
    "hookimpl",
    "load_spec_file",
    "parse_output",
    "plan",
    "render_request",
    "stream_parser",
]


def __getattr__(name):
    # The llama.cpp runtime loads a native library: import it only when asked for.
    if name in ("ChatModel", "chat_handler"):
        from . import runtime

        return getattr(runtime, name)
    if name in ("build_tiny_model", "ensure_tiny_model"):
        from . import tiny_model

        return getattr(tiny_model, name)
    raise AttributeError(f"module 'chatformats' has no attribute {name!r}")
