"""The grammar seam: JSON Schema -> GBNF, and spec + tools + tool_choice -> a lazy grammar with its
triggers (`GrammarPlan`). Imports only `chatformats.spec`; checking a grammar needs llama.cpp and
lives in `chatformats.llama`."""

from .build import MAX_PARALLEL_CALLS, build_grammar
from .gbnf import (
    MAX_INT_DIGITS,
    WS_MAX,
    GbnfRules,
    gbnf_char_class,
    gbnf_literal,
    kv_sequence,
    sanitize_name,
    until_rule,
    valid_class,
)
from .json_schema import GbnfBuilder, SchemaError, integer_range
from .plan import NO_GRAMMAR, GrammarPlan
from .reply import reply_grammar
from .triggers import derive_triggers

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_PARALLEL_CALLS",
    "NO_GRAMMAR",
    "WS_MAX",
    "GbnfBuilder",
    "GbnfRules",
    "GrammarPlan",
    "SchemaError",
    "build_grammar",
    "derive_triggers",
    "gbnf_char_class",
    "gbnf_literal",
    "integer_range",
    "kv_sequence",
    "reply_grammar",
    "sanitize_name",
    "until_rule",
    "valid_class",
]
