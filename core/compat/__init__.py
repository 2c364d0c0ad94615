"""Old import paths of chatformats 0.1 (flat modules), kept for one release.

`install()` (called by the package) adds a finder that maps an old dotted name to the module that
holds its code now: the same module object lands in `sys.modules` under both names, so every name
the new module has (private ones included) resolves through the old path. Importing an old path
warns with a DeprecationWarning naming the new one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Optional, Sequence

# old module (under chatformats.) -> new module (under chatformats.)
ALIASES: dict[str, str] = {
    "loader": "spec.loader",
    "render": "prompt",
    "template": "prompt.template",
    "json_schema_gbnf": "grammar",
    "parse": "output",
    "stream": "output.stream",
    "api": "hooks.api",
    "defaults": "hooks.defaults",
    "detect": "hooks.detect",
    "hookspecs": "hooks.hookspecs",
    "plugins": "hooks.plugins",
    "registry": "hooks.registry",
    "engine": "llama.engine",
    "llama_grammar": "llama",
    "runtime": "llama",
    "server": "llama.server",
    "check": "testing.check",
    "conformance": "testing.conformance",
    "oracle": "testing.oracle",
    "pytest_plugin": "testing.pytest_plugin",
    "tiny_model": "testing.tiny_model",
    "cli_authoring": "cli.authoring",
    "cli_runtime": "cli.runtime",
    "demo": "cli.demo",
}

_PREFIX = "chatformats."


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target
        self._spec = None

    def create_module(self, spec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__  # the import system overwrites __spec__; exec_module restores it
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds `chatformats.<old>` for each old name in ALIASES (and nothing else)."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None):
        if not fullname.startswith(_PREFIX):
            return None
        new = ALIASES.get(fullname[len(_PREFIX) :])
        if new is None:
            return None
        new_name = _PREFIX + new
        warnings.warn(
            f"{fullname} is deprecated: import {new_name} instead (the old path goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new_name))


def install() -> None:
    """Add the finder once, last: a real module of the same name always wins."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(AliasFinder())
