"""Run the conformance checks on an inferred spec, with the template it was inferred from."""

from __future__ import annotations

import os
import tempfile
from typing import Iterable, Optional

from ..hooks import Format
from ..testing.conformance import conformance_problems
from .infer import InferenceResult


def inferred_format(result: InferenceResult, origin: str = "<template>"):
    """The inferred spec as a `Format` (the public functions take the hooks from the registry)."""

    if result.spec is None:
        raise ValueError(f"the inferred spec for {result.name} does not validate")
    return Format(result.spec, plugin="formats new", origin=origin)


def check_inferred(
    result: InferenceResult,
    template_source: str,
    *,
    template_path: Optional[str] = None,
    kinds: Iterable[str] = ("one_call", "parallel_calls", "content_only"),
    tool_choices: Iterable[str] = ("auto", "required"),
) -> list[str]:
    """Run `conformance_problems` on the inferred spec with its own template; [] means it passed."""
    if result.spec is None:
        return ["the inferred spec does not validate"]
    fmt = inferred_format(result, origin=template_path or "<template>")
    kinds = [k for k in kinds if k != "parallel_calls" or not result.spec.tool_calls.max_calls]
    if template_path is not None:
        return conformance_problems(fmt, [template_path], kinds, tool_choices)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "template.jinja")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(template_source)
        return conformance_problems(fmt, [path], kinds, tool_choices)

