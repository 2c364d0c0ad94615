"""The hooks seam, the only plugin surface: hookspecs, the plugin manager, the spec defaults,
per-format hooks, the registry of formats, template detection and the public functions.

Imports `spec`, `prompt`, `grammar` and `output`; never the llama.cpp host."""

from .api import get_format, parse, plan, plan_request, render, stream_parser
from .detect import Detection, DetectError, detect_path, detect_template
from .format import FORMAT_HOOKS, Format
from .hookspecs import hookimpl, hookspec
from .plugins import DEFAULT_PLUGINS, PluginError, PluginInfo, PluginSet
from .registry import Registry, get_registry, spec_dirs, spec_files, user_spec_dir

__all__ = [
    "DEFAULT_PLUGINS",
    "FORMAT_HOOKS",
    "Detection",
    "Format",
    "PluginError",
    "PluginInfo",
    "PluginSet",
    "Registry",
    "DetectError",
    "detect_path",
    "detect_template",
    "get_format",
    "get_registry",
    "hookimpl",
    "hookspec",
    "parse",
    "plan",
    "plan_request",
    "render",
    "spec_dirs",
    "spec_files",
    "stream_parser",
    "user_spec_dir",
]
