"""The grammar seam: JSON Schema -> GBNF, and spec + tools + tool_choice -> a lazy grammar with its
triggers (`GrammarPlan`). Imports only `chatformats.spec`; checking a grammar needs llama.cpp and
lives in `chatformats.llama`."""

from .build import build_grammar
from .gbnf import (
    MAX_INT_DIGITS,
    WS_MAX,
    GbnfRules,
    gbnf_char_class,
    gbnf_literal,
    kv_sequence,
    sanitize_name,
    until_rule,
)
from .json_schema import GbnfBuilder, integer_range
from .plan import NO_GRAMMAR, GrammarPlan
from .triggers import derive_triggers

__all__ = [
    "MAX_INT_DIGITS",
    "NO_GRAMMAR",
    "WS_MAX",
    "GbnfBuilder",
    "GbnfRules",
    "GrammarPlan",
    "build_grammar",
    "derive_triggers",
    "gbnf_char_class",
    "gbnf_literal",
    "integer_range",
    "kv_sequence",
    "sanitize_name",
    "until_rule",
]
