"""`Format`: a loaded spec, where it came from, and the hooks registered for it alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..spec import Spec

# The hooks a format can carry for itself (`register(spec, hooks=obj)`): every hook but
# register_formats, with the arguments of its hookspec.
FORMAT_HOOKS: dict[str, tuple[str, ...]] = {
    "render_prompt": ("format", "request", "template", "add_generation_prompt", "bos_token", "eos_token"),
    "choose_triggers": ("format", "tools", "tool_choice"),
    "build_grammar": ("format", "tools", "tool_choice", "parallel_tool_calls", "triggers", "in_reasoning"),
    "parse_output": ("format", "text", "tools", "in_reasoning"),
    "stream_parser": ("format", "tools", "in_reasoning"),
}


@dataclass
class Format:
    """A loaded format: its spec, where it came from, what it overrides and its own hooks.

    `hooks` is the object a plugin registered with the spec (methods named like the per-format
    hooks); the built-in plugin `chatformats.hooks.per_format` calls them for this format only.
    """

    spec: Spec
    plugin: str
    origin: str
    path: Optional[str] = None
    overrides: list[str] = field(default_factory=list)
    hooks: Optional[Any] = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.spec.description,
            "plugin": self.plugin,
            "origin": self.origin,
            "path": self.path,
            "overrides": list(self.overrides),
        }
