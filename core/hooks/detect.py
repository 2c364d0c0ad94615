"""Map a chat template (or a GGUF's embedded one) to a format, and say why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..prompt import template_references_tools
from .registry import Registry, get_registry

FALLBACK = "generic"


class DetectError(ValueError):
    """The file cannot be read as a chat template or a GGUF."""


@dataclass
class Detection:
    format: str
    reason: str
    candidates: list[dict[str, Any]] = field(default_factory=list)
    template_shows_tools: bool = False
    source: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "reason": self.reason,
            "template_shows_tools": self.template_shows_tools,
            "candidates": self.candidates,
            "source": self.source,
        }


def _matches(detect, source: str) -> tuple[bool, str]:
    if not (detect.markers or detect.any_markers):
        return False, "no markers"
    missing = [m for m in detect.markers if m not in source]
    if missing:
        return False, f"missing {missing[0]!r}"
    if detect.any_markers:
        found = [m for m in detect.any_markers if m in source]
        if not found:
            return False, f"none of {detect.any_markers!r}"
    else:
        found = []
    present = [m for m in detect.absent if m in source]
    if present:
        return False, f"contains {present[0]!r}"
    return True, "has " + ", ".join(repr(m) for m in list(detect.markers) + found)


def detect_template(source: str, registry: Optional[Registry] = None) -> Detection:
    """The format whose detect markers match `source`, highest priority first; else `generic`."""
    registry = registry or get_registry()
    shows_tools = template_references_tools(source)
    candidates = []
    for fmt in registry:
        ok, why = _matches(fmt.spec.detect, source)
        if ok:
            candidates.append({"format": fmt.name, "priority": fmt.spec.detect.priority, "why": why})
    candidates.sort(key=lambda c: -c["priority"])
    for cand in candidates:
        spec = registry.get(cand["format"]).spec
        if shows_tools or spec.inputs.template is not None:
            own = "" if shows_tools else " (the template cannot show tools: the format's own template is used)"
            return Detection(cand["format"], f"template {cand['why']}{own}", candidates, shows_tools)
    if candidates:
        reason = (
            f"markers of {candidates[0]['format']!r} found, but the template does not read `tools` "
            "and that format has no template of its own"
        )
    elif shows_tools:
        reason = "the template reads `tools` but no format's markers match"
    else:
        reason = "the template does not read `tools` and no format's markers match"
    return Detection(FALLBACK, reason, candidates, shows_tools)


def read_gguf_template(path: str | Path) -> tuple[Optional[str], str]:
    """The chat template embedded in a GGUF (metadata only; weights are not loaded).

    Prefers the `tool_use` variant when the file has one. Returns (template, metadata key).
    Raises DetectError for a file that is not a readable GGUF or a template that is not UTF-8.
    """
    from gguf import GGUFReader

    with open(path, "rb") as file:
        if file.read(4) != b"GGUF":
            raise DetectError(f"{path} is not a GGUF file (no GGUF magic)")
    try:
        reader = GGUFReader(str(path), "r")
    except Exception as exc:  # noqa: BLE001 - gguf raises anything on a damaged file
        raise DetectError(f"{path} is not a readable GGUF file: {exc}") from None
    found = {}
    for key in ("tokenizer.chat_template.tool_use", "tokenizer.chat_template"):
        f = reader.fields.get(key)
        if f is not None:
            try:
                found[key] = bytes(f.parts[f.data[0]]).decode("utf-8")
            except (UnicodeDecodeError, IndexError) as exc:
                raise DetectError(f"{path}: {key} is not a UTF-8 string ({exc})") from None
    for key in ("tokenizer.chat_template.tool_use", "tokenizer.chat_template"):
        if key in found:
            return found[key], key
    return None, ""


def detect_path(path: str | Path, registry: Optional[Registry] = None) -> Detection:
    """Detect from a .jinja file or a .gguf model."""
    path = Path(path)
    if path.suffix == ".gguf":
        try:
            source, key = read_gguf_template(path)
        except OSError as exc:
            raise DetectError(f"cannot read {path}: {exc.strerror or exc}") from None
        if source is None:
            return Detection(FALLBACK, "the GGUF has no tokenizer.chat_template", source=str(path))
        result = detect_template(source, registry)
        result.source = f"{path}:{key}"
        return result
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DetectError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DetectError(f"cannot read {path}: {exc.strerror or exc}") from None
    result = detect_template(source, registry)
    result.source = str(path)
    return result
