"""The plugin manager: built-in plugins first, then the `chatformats` entry points."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Optional

import pluggy

from . import hookspecs

# Built-in formats are plugins too, registered through the same hooks as third-party ones.
DEFAULT_PLUGINS = (
    "chatformats.hooks.defaults",
    "chatformats.hooks.per_format",
    "chatformats.formats.builtin",
)

ENTRY_POINT_GROUP = "chatformats"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from, for `formats list`."""

    name: str
    distribution: Optional[str] = None
    version: Optional[str] = None
    builtin: bool = False

    def describe(self) -> str:
        if self.builtin:
            return f"{self.name} (built-in)"
        if self.distribution:
            return f"{self.name} ({self.distribution} {self.version})"
        return self.name


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not be loaded or whose hook failed."""

    plugin: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin}: {self.message}"


class PluginSet:
    """A plugin manager plus what we learnt while loading it."""

    def __init__(self, load_entry_points: bool = True):
        self.pm = pluggy.PluginManager("chatformats")
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.errors: list[PluginError] = []
        for module_name in DEFAULT_PLUGINS:
            self.pm.register(importlib.import_module(module_name), name=module_name)
            self.info[module_name] = PluginInfo(module_name, builtin=True)
        if load_entry_points:
            self._load_entry_points()
        if os.environ.get("CHATFORMATS_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(lambda text: print(text, end="", file=sys.stderr))
            self.pm.enable_tracing()

    def register(self, plugin: object, name: Optional[str] = None) -> None:
        """Register an in-process plugin (tests, applications)."""
        name = self.pm.register(plugin, name=name or getattr(plugin, "__name__", type(plugin).__name__))
        self.info[name] = PluginInfo(name)

    def _load_entry_points(self) -> None:
        allowed = os.environ.get("CHATFORMATS_LOAD_PLUGINS")
        allow = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist is not None else None
            if allow is not None and dist_name not in allow and ep.name not in allow:
                continue
            name = ep.name
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=name)
            except Exception as exc:  # a broken plugin must not break the others
                self.errors.append(PluginError(name, f"cannot load {ep.value}: {type(exc).__name__}: {exc}"))
                continue
            self.info[name] = PluginInfo(name, dist_name, dist.version if dist is not None else None)

    def check_pending(self) -> list[PluginError]:
        """Hook implementations that match no hook (a misspelled hook name registers silently)."""
        problems = []
        for name, plugin in self.pm.list_name_plugin():
            for attr in dir(plugin):
                impl_opts = self.pm.parse_hookimpl_opts(plugin, attr)
                if impl_opts is None:
                    continue
                hook = getattr(self.pm.hook, attr, None)
                if hook is None or not hook.has_spec():
                    problems.append(PluginError(name, f"unknown hook {attr!r} (misspelled?)"))
        if not problems:  # pluggy's own check, for anything the loop above cannot see
            try:
                self.pm.check_pending()
            except pluggy.PluginValidationError as exc:
                problems.append(PluginError(self.pm.get_name(exc.plugin) or "?", str(exc)))
        return problems
