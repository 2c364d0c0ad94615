"""What a grammar hook returns: the GBNF and what switches it on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GrammarPlan:
    """A grammar for llama.cpp and what switches it on (when lazy).

    Checking a text against a plan needs llama.cpp: `chatformats.llama.checks.plan_check`.
    """

    gbnf: str
    lazy: bool
    words: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    patterns_full: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the grammar does not enforce, one line each, e.g. "tools[0] get_weather: `multipleOf`
    is not enforced by the grammar" (for the server to pass on)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON output and snapshots)."""
        return asdict(self)

    def triggers_dict(self) -> dict[str, list[str]]:
        """Only the triggers: words, tokens, patterns, patterns_full."""
        return {
            "words": list(self.words),
            "tokens": list(self.tokens),
            "patterns": list(self.patterns),
            "patterns_full": list(self.patterns_full),
        }


NO_GRAMMAR = GrammarPlan(gbnf="", lazy=False)
"""Sentinel a `build_grammar` hook returns for "this request needs no grammar" (compare with `is`)."""
