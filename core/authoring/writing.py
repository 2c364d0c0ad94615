"""An inferred spec as YAML, with what inference noted (and the conformance outcome) on top."""

from __future__ import annotations

import io
from typing import Any, Optional

from .infer import InferenceResult


def _styled(value: Any) -> Any:
    """Strings with newlines or leading/trailing spaces double-quoted, so markers stay exact."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _styled(v)
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_styled(v) for v in value)
        if all(not isinstance(v, (dict, list)) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and value and (value != value.strip() or not value.isprintable()):
        return DoubleQuotedScalarString(value)
    return value


def spec_yaml(result: InferenceResult, problems: Optional[list[str]] = None, template_label: str = "") -> str:
    """The inferred spec as YAML, with the notes (and conformance outcome) as comments on top."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_unicode = True
    yaml.width = 4096
    header = [f"Inferred by `formats new {result.name} --from-template {template_label}`.".rstrip()]
    header += [f"shape: {result.shape}"]
    header += [f"note: {n}" for n in result.notes]
    if problems is not None:
        header.append("conformance: passed" if not problems else f"conformance: {len(problems)} problem(s)")
        header += [f"  {p}" for p in problems[:20]]
    stream = io.StringIO()
    yaml.dump(_styled(result.data), stream)
    lines = []
    for line in header:
        lines += ["# " + part for part in line.splitlines()]
    return "\n".join(lines) + "\n" + stream.getvalue()

