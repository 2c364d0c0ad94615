"""GBNF -> llguidance's Lark syntax, special tokens included.

llama.cpp's GBNF engine matches a special token by its text: the literal "<tool_call>" accepts the
single <tool_call> token and also the same text spelled by ordinary tokens. llguidance matches a
special token only where the grammar names it. Here a literal that spells a special token's text
names that token: the in-process engine asks for the marker as the one token the model was
trained to emit (a subset of what the GBNF accepts, so llama.cpp's check still passes; a trigger
word that is a special token likewise fires only on the token). The GBNF parser and the rule
resolution are llguidance's own (`llguidance.gbnf_to_lark`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from llguidance import gbnf_to_lark as g2l

from ..grammar.gbnf import literal_text, special_pieces


def escape(text: str) -> str:
    """`text` as the body of a Lark string literal."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class _SpecialToken(g2l.ASTNode):
    """A special token, by id."""

    token: int

    def __str__(self) -> str:
        return f"<[{self.token}]>"

    def is_terminal(self) -> bool:
        return False  # a rule holding a token reference is a grammar rule, not a lexeme


class _Splitter:
    def __init__(self, specials: Mapping[str, int]) -> None:
        self.specials = specials
        ordered = sorted(specials, key=len, reverse=True)  # longest first: "<|eom_id|>" before "<|e"
        self.finder = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def visit(self, node: Any) -> Any:
        if isinstance(node, g2l.LiteralNode):
            return self._literal(node)
        if isinstance(node, g2l.SequenceNode):
            node.nodes = [self.visit(n) for n in node.nodes]
        elif isinstance(node, g2l.AlternativeNode):
            node.alternatives = [self.visit(n) for n in node.alternatives]
        elif isinstance(node, g2l.RepetitionNode):
            node.node = self.visit(node.node)
        elif isinstance(node, g2l.RuleNode):
            node.alternatives = self.visit(node.alternatives)
        return node

    def _literal(self, node: Any) -> Any:
        # llguidance strips leading zeros of \\u escapes, which makes them ambiguous: such
        # literals are left as they are (literal_text gives None)
        text = None if self.finder is None else literal_text(node.value)
        pieces = None if text is None else special_pieces(text, self.finder, self.specials.get)
        if pieces is None:
            return node
        parts = [
            _SpecialToken(p) if isinstance(p, int) else g2l.LiteralNode(escape(p)) for p in pieces
        ]
        return parts[0] if len(parts) == 1 else g2l.SequenceNode(parts)


def gbnf_to_lark(gbnf: str, specials: Mapping[str, int]) -> str:
    """The Lark grammar for `gbnf`; raises on GBNF that llguidance's translator does not know."""
    rules = g2l.GrammarParser().parse(gbnf)
    splitter = _Splitter(specials)
    for rule in rules.values():
        splitter.visit(rule)
    g2l.resolve(rules)
    ordered = sorted(rules.values(), key=lambda r: r.order)
    return "%llguidance {}\n\n" + "\n".join(str(rule) for rule in ordered) + "\n"
