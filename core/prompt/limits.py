"""The budgets untrusted templates and spec files run under, and how to change them.

Each comes from an environment variable (read at every use, so a test or a process may set it
late) unless `set_template_limits` fixed it in this process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["LimitsError", "TemplateLimits", "set_template_limits", "template_limits"]


class LimitsError(ValueError):
    """A limit set to something that is not a limit (a bad environment variable)."""


@dataclass(frozen=True)
class TemplateLimits:
    """time_s: wall-clock seconds one compile, render or expression may take; memory_mb: the
    address space of a sandbox worker process; workers: how many run at once (renders from more
    threads wait for one); process: False runs templates in this process with only the
    operation bounds (no time or memory limit)."""

    time_s: float = 5.0
    memory_mb: int = 256
    workers: int = 2
    process: bool = True


# field -> (environment variable, parser)
_ENV = {
    "time_s": ("CHATFORMATS_TEMPLATE_TIMEOUT", float),
    "memory_mb": ("CHATFORMATS_TEMPLATE_MEMORY_MB", int),
    "workers": ("CHATFORMATS_TEMPLATE_WORKERS", int),
    "process": ("CHATFORMATS_TEMPLATE_SANDBOX", lambda v: {"process": True, "off": False}[v]),
}
_override: dict[str, Any] = {}


def _from_env(name: str, default: Any) -> Any:
    variable, parse = _ENV[name]
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw.strip())
    except (ValueError, KeyError):
        value = None
    if value is None or (not isinstance(value, bool) and value <= 0):
        expected = "process or off" if name == "process" else "a positive number"
        raise LimitsError(f"{variable} must be {expected}, got {raw!r}")
    return value


def template_limits() -> TemplateLimits:
    """The limits in force: `set_template_limits` values, else the environment, else defaults."""
    defaults = TemplateLimits()
    values = {
        f.name: _override[f.name] if f.name in _override else _from_env(f.name, getattr(defaults, f.name))
        for f in fields(TemplateLimits)
    }
    return replace(defaults, **values)


def set_template_limits(**changes: Any) -> TemplateLimits:
    """Fix limits for this process (`time_s=`, `memory_mb=`, `workers=`, `process=`; None goes
    back to the environment). Returns the limits now in force."""
    for name, value in changes.items():
        if name not in _ENV:
            raise TypeError(f"unknown template limit {name!r}; known: {', '.join(_ENV)}")
        if value is None:
            _override.pop(name, None)
        else:
            _override[name] = value
    return template_limits()
