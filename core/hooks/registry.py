"""Which formats exist, where each came from, and which it replaced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..spec import Problem, Spec, SpecError, load_spec_file
from .format import Format
from .per_format import bad_hooks
from .plugins import PluginError, PluginSet


def user_spec_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "chatformats" / "specs"


def spec_dirs(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Spec directories in load order: user config, CHATFORMATS_SPECS_PATH, then `extra` (--specs)."""
    dirs = [user_spec_dir()]
    env = os.environ.get("CHATFORMATS_SPECS_PATH", "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [Path(p) for p in extra]
    return dirs


def spec_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


class Registry:
    """All formats known to this process, built from plugins and spec directories."""

    def __init__(self, plugins: PluginSet, extra_spec_dirs: Iterable[str | os.PathLike] = ()):
        self.plugins = plugins
        self.formats: dict[str, Format] = {}
        self.problems: list[Problem] = []
        self.plugin_errors: list[PluginError] = list(plugins.errors)
        self._collect_from_plugins()
        for directory in spec_dirs(extra_spec_dirs):
            for path in spec_files(directory):
                self._add_file(path, plugin="spec file", origin=str(path))

    # -- building ---------------------------------------------------------

    def _collect_from_plugins(self) -> None:
        hook = self.plugins.pm.hook.register_formats
        # In registration order: the built-ins first, then entry points, then in-process plugins.
        for impl in hook.get_hookimpls():
            name = impl.plugin_name
            info = self.plugins.info.get(name)
            described = info.describe() if info else name

            def register(spec: Any, *, hooks: Any = None, _plugin: str = described) -> None:
                self._add(spec, plugin=_plugin, hooks=hooks)

            kwargs = {"register": register} if "register" in impl.argnames else {}
            try:
                impl.function(**kwargs)
            except Exception as exc:
                self.plugin_errors.append(
                    PluginError(name, f"register_formats raised {type(exc).__name__}: {exc}")
                )

    def _add(self, spec: Any, plugin: str, hooks: Any = None) -> None:
        if hooks is not None:
            problems = bad_hooks(hooks)
            if problems:
                self.plugin_errors.extend(PluginError(plugin, p) for p in problems)
                return
        if isinstance(spec, Spec):
            self._insert(Format(spec, plugin=plugin, origin=plugin, hooks=hooks), from_plugin=True)
            return
        path = Path(str(spec)) if not hasattr(spec, "read_text") else spec
        self._add_file(path, plugin=plugin, origin=str(path), from_plugin=True, hooks=hooks)

    def _add_file(
        self, path: Any, plugin: str, origin: str, from_plugin: bool = False, hooks: Any = None
    ) -> None:
        try:
            spec = load_spec_file(path)
        except SpecError as exc:
            self.problems.extend(exc.problems)
            if from_plugin:
                self.plugin_errors.append(PluginError(plugin, f"invalid spec {origin}"))
            return
        self._insert(Format(spec, plugin=plugin, origin=origin, path=str(path), hooks=hooks), from_plugin)

    def _insert(self, fmt: Format, from_plugin: bool) -> None:
        previous = self.formats.get(fmt.name)
        if previous is not None:
            if from_plugin:
                # Two plugins claiming one name is a conflict, not an override: keep the first.
                self.plugin_errors.append(
                    PluginError(
                        fmt.plugin,
                        f"format {fmt.name!r} is already registered by {previous.plugin}; ignored",
                    )
                )
                return
            fmt.overrides = previous.overrides + [f"{previous.origin} ({previous.plugin})"]
            if fmt.hooks is None:  # a spec file replaces the spec; its plugin's code still applies
                fmt.hooks = previous.hooks
        self.formats[fmt.name] = fmt

    # -- lookup -------------------------------------------------------------

    def __iter__(self) -> Iterator[Format]:
        return iter(sorted(self.formats.values(), key=lambda f: f.name))

    def __contains__(self, name: str) -> bool:
        return name in self.formats

    def get(self, name: str) -> Format:
        try:
            return self.formats[name]
        except KeyError:
            known = ", ".join(sorted(self.formats)) or "none"
            raise KeyError(f"unknown format {name!r} (known: {known})") from None

    @property
    def hook(self):
        return self.plugins.pm.hook


_default: Optional[Registry] = None


def get_registry(extra_spec_dirs: Iterable[str | os.PathLike] = (), *, refresh: bool = False) -> Registry:
    """The process-wide registry (built once; `extra_spec_dirs` or `refresh` build a new one)."""
    global _default
    extra = list(extra_spec_dirs)
    if extra:
        return Registry(PluginSet(), extra)
    if _default is None or refresh:
        _default = Registry(PluginSet())
    return _default

