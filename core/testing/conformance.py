"""Conformance checks any format must pass: the same ones the built-in formats pass.

Used by `chatformats.testing.pytest_plugin` so a plugin author gets them with a few lines of test code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Union

from ..hooks import Format, Registry, get_registry
from .check import check_format
from .oracle import message_kinds, run_oracle

ALL_KINDS = tuple(message_kinds())


def conformance_problems(
    format: Union[str, Format],
    templates: Iterable[Union[str, Path]] = (),
    kinds: Iterable[str] = ("one_call", "parallel_calls", "content_only"),
    tool_choices: Iterable[str] = ("auto", "required"),
    registry: Optional[Registry] = None,
) -> list[str]:
    """Every failure of `format`: its examples (parse, trigger, grammar), then the round-trip oracle
    for each template and message kind. Cases a template cannot express are skipped, not failed."""
    fmt = format if isinstance(format, Format) else (registry or get_registry()).get(format)
    problems = [str(p) for p in check_format(fmt, registry)]
    sources: list[tuple[str, Optional[str]]] = [
        (str(t), Path(t).read_text(encoding="utf-8")) for t in templates
    ]
    if not sources and fmt.spec.inputs.template is not None:
        sources = [("own template", None)]
    kinds_by_name = message_kinds()
    for label, source in sources:
        for kind in kinds:
            choices = ["auto"] if kind in ("content_only", "content_and_call") else list(tool_choices)
            for choice in choices:
                try:
                    result = run_oracle(
                        fmt, source, kind, kinds_by_name[kind], tool_choice=choice, registry=registry
                    )
                except Exception as exc:
                    problems.append(f"{fmt.name} [{label}] {kind}/{choice}: {type(exc).__name__}: {exc}")
                    continue
                for failure in result.failures:
                    problems.append(f"{fmt.name} [{label}] {kind}/{choice}: {failure}")
    return problems
