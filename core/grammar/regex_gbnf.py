"""A JSON Schema `pattern` (Python `re` syntax, as `jsonschema` runs it) -> GBNF for the JSON
string that holds a matching value.

Like llama.cpp's json-schema-to-grammar, but the rule is written over the *encoded* string: a
character the pattern allows is emitted as JSON writes it (`"` as `\\"`, a newline as `\\n`), so
the decoded value is what the pattern matches. `pattern` is searched, not matched: a side without
its anchor (`^`, `$`) may hold any text. Every class is a set of Unicode scalar values; `\\d`, `\\w`
and `\\s` are the ASCII ones (a subset of what Python matches), `\\D` and `\\S` their exact
complements and `\\W` the ASCII non-word characters, so every string the rule allows matches.

Not supported (the caller names the pattern in a warning and allows any string): lookaround,
backreferences, word boundaries, inline flags, anchors inside the pattern, repetition counts over
1000.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable, Optional, Union

Ranges = tuple[tuple[int, int], ...]
VALID: Ranges = ((0x00, 0xD7FF), (0xE000, 0x10FFFF))
MAX_REPEAT = 1000


class UnsupportedPattern(Exception):
    """The pattern uses a feature the translation does not have (the message says which)."""


def _normalize(ranges: list[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in VALID:
        start = lo
        for a, b in ranges:
            if b < start or a > hi:
                continue
            if a > start:
                out.append((start, a - 1))
            start = max(start, b + 1)
        if start <= hi:
            out.append((start, hi))
    return _normalize(out)


def chars_ranges(text: str) -> Ranges:
    return _normalize([(ord(c), ord(c)) for c in text])


def subtract(ranges: Ranges, cut: Ranges) -> Ranges:
    """The code points of `ranges` that are not in `cut`."""
    return _intersect(ranges, _complement(cut))


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out = []
    for lo, hi in a:
        for c, d in b:
            x, y = max(lo, c), min(hi, d)
            if x <= y:
                out.append((x, y))
    return _normalize(out)


DIGIT = chars_ranges("0123456789")
WORD = _normalize([(ord("a"), ord("z")), (ord("A"), ord("Z")), (ord("0"), ord("9")), (ord("_"), ord("_"))])
SPACE = chars_ranges(" \t\n\r\f\v")


@lru_cache(maxsize=None)
def _unicode(kind: str) -> Ranges:
    """Every code point Python's `re` puts in \\d or \\s (for their exact complements)."""
    test: Callable[[str], bool] = (
        (lambda c: unicodedata.category(c) == "Nd") if kind == "d" else str.isspace
    )
    found = [(c, c) for lo, hi in VALID for c in range(lo, hi + 1) if test(chr(c))]
    return _normalize(found)


SHORTHANDS: dict[str, Callable[[], Ranges]] = {
    "d": lambda: DIGIT,
    "w": lambda: WORD,
    "s": lambda: SPACE,
    "D": lambda: _complement(_unicode("d")),
    "S": lambda: _complement(_unicode("s")),
    "W": lambda: _normalize([(a, b) for a, b in _complement(WORD) if b < 0x80]),
}
SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
# what `.` matches: anything but line ends (Python excludes only \n; fewer is still sound)
DOT = _complement(chars_ranges("\n\r\u2028\u2029"))


# The pattern as a tree: an alternation of sequences of (atom, low, high) items.
Node = Union["Alt", Ranges, str]  # str: a literal run


class Alt:
    def __init__(self, options: list[list[tuple[Node, int, Optional[int]]]]):
        self.options = options


class _Parser:
    def __init__(self, pattern: str):
        self.p = pattern
        self.i = 0

    def error(self, what: str) -> UnsupportedPattern:
        return UnsupportedPattern(f"{what} at position {self.i}")

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def alt(self, depth: int = 0) -> Alt:
        options = [self.seq(depth)]
        while self.peek() == "|":
            self.i += 1
            options.append(self.seq(depth))
        return Alt(options)

    def seq(self, depth: int) -> list[tuple[Node, int, Optional[int]]]:
        items: list[tuple[Node, int, Optional[int]]] = []
        while self.i < len(self.p) and self.peek() not in "|)":
            atom = self.atom(depth)
            low, high = self.quantifier()
            items.append((atom, low, high))
        return items

    def quantifier(self) -> tuple[int, Optional[int]]:
        c = self.peek()
        if c in ("*", "+", "?"):
            self.i += 1
            bounds = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        elif c == "{":
            m = re.compile(r"\{(\d*)(,?)(\d*)\}").match(self.p, self.i)
            if m is None or (not m.group(1) and not m.group(3) and m.group(2)) or not (m.group(1) or m.group(3)):
                return 1, 1  # a literal "{", read as an atom next
            self.i = m.end()
            low = int(m.group(1) or 0)
            high = low if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
            if max(low, high or 0) > MAX_REPEAT:
                raise self.error(f"a repetition count over {MAX_REPEAT}")
            bounds = (low, high)
        else:
            return 1, 1
        if self.peek() in ("?", "+"):  # lazy and possessive match the same strings
            self.i += 1
        return bounds

    def atom(self, depth: int) -> Node:
        c = self.peek()
        if c == "(":
            self.i += 1
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.p.startswith("?P<", self.i) or (self.p.startswith("?<", self.i) and self.p[self.i + 2 : self.i + 3] not in "=!"):
                self.i = self.p.index(">", self.i) + 1
            elif c == "(" and self.peek() == "?":
                raise self.error("lookaround, inline flags or a conditional group")
            inner = self.alt(depth + 1)
            if self.peek() != ")":
                raise self.error("an unbalanced parenthesis")
            self.i += 1
            return inner
        if c == "[":
            return self.char_class()
        if c == ".":
            self.i += 1
            return DOT
        if c in "^$":
            raise self.error(f"the anchor {c!r} inside the pattern")
        if c == "\\":
            return self.escape(in_class=False)
        if c in "*+?":
            raise self.error("nothing to repeat")
        self.i += 1
        return c

    def escape(self, in_class: bool) -> Node:
        c = self.p[self.i + 1 : self.i + 2]
        if not c:
            raise self.error("a trailing backslash")
        self.i += 2
        if c in SHORTHANDS:
            return SHORTHANDS[c]()
        if c in SIMPLE_ESCAPES:
            return SIMPLE_ESCAPES[c]
        if in_class and c == "b":
            return "\b"
        if c in "xuU":
            digits = {"x": 2, "u": 4, "U": 8}[c]
            text = self.p[self.i : self.i + digits]
            if len(text) != digits or not re.fullmatch(r"[0-9a-fA-F]+", text):
                raise self.error(f"a malformed \\{c} escape")
            self.i += digits
            code = int(text, 16)
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                raise self.error("an escape that is not a Unicode scalar value")
            return chr(code)
        if c == "0":
            return "\0"
        if c.isalnum():  # \b \B \A \Z \1 \N{...} \p ...
            raise self.error(f"the escape \\{c}")
        return c  # an escaped punctuation character stands for itself

    def char_class(self) -> Ranges:
        self.i += 1
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            c = self.peek()
            if not c:
                raise self.error("an unterminated class")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and self.p.startswith("[:", self.i):
                raise self.error("a POSIX class")
            if c == "\\":
                item = self.escape(in_class=True)
            else:
                self.i += 1
                item = c
            if isinstance(item, tuple):  # \d \w ...
                ranges += item
                continue
            low = ord(item)
            if self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                c2 = self.peek()
                if c2 == "\\":
                    end = self.escape(in_class=True)
                    if isinstance(end, tuple):
                        raise self.error("a range ending in a class shorthand")
                else:
                    self.i += 1
                    end = c2
                ranges.append((low, ord(end)))
            else:
                ranges.append((low, low))
        found = _normalize(ranges)
        return _complement(found) if negate else _intersect_valid(found)


def _intersect_valid(ranges: Ranges) -> Ranges:
    return _intersect(ranges, VALID)


def parse_pattern(pattern: str) -> tuple[bool, Alt, bool]:
    """(anchored at the start, tree, anchored at the end); UnsupportedPattern when not readable."""
    start = pattern.startswith("^") or pattern.startswith("\\A")
    body = pattern[(2 if pattern.startswith("\\A") else 1) if start else 0 :]
    end = False
    for anchor in ("\\Z", "$"):
        if body.endswith(anchor) and not body.endswith("\\" + anchor):
            body, end = body[: -len(anchor)], True
            break
    parser = _Parser(body)
    tree = parser.alt()
    if parser.i != len(body):
        raise parser.error("an unbalanced parenthesis")
    if (start or end) and len(tree.options) > 1:
        # "^a|b$" anchors only one side of each alternative: keep it exact by refusing it
        raise UnsupportedPattern("an alternation outside a group next to an anchor")
    return start, tree, end


# -- GBNF over the JSON encoding ---------------------------------------------------------------

_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f", '"': '\\"', "\\": "\\\\"}


def json_encoded(ch: str) -> str:
    """How a JSON string writes `ch` (the grammar's way: no raw controls or DEL)."""
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\u{code:04x}"
    return ch


def json_raw(ranges: Ranges) -> Ranges:
    """The part of a set the grammar's JSON strings write as itself (no controls, quote,
    backslash or DEL)."""
    return subtract(ranges, _normalize([(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0x7F, 0x7F)]))


class PatternRules:
    """Writes GBNF rules for patterns into a rule collection (`add_rule`, `literal`, `char_class`)."""

    def __init__(self, add_rule: Callable[[str, str], str], literal: Callable[[str], str], klass: Callable[[Ranges], str]):
        self.add_rule = add_rule
        self.literal = literal
        self.klass = klass

    def charset(self, ranges: Ranges, name: str) -> str:
        """One JSON-encoded character of the set."""
        alts = []
        raw = json_raw(ranges)
        if raw:
            alts.append(self.klass(raw))
        for a, b in ranges:
            for code in range(a, min(b, 0x7F) + 1):
                ch = chr(code)
                if json_encoded(ch) != ch:
                    alts.append(self.literal(json_encoded(ch)))
        if not alts:
            raise UnsupportedPattern("a class no character satisfies")
        return alts[0] if len(alts) == 1 else self.add_rule(name, " | ".join(alts))

    def node(self, node: Node, name: str) -> str:
        if isinstance(node, str):
            return self.literal("".join(json_encoded(c) for c in node))
        if isinstance(node, tuple):
            return self.charset(node, f"{name}-char")
        options = []
        for k, option in enumerate(node.options):
            parts: list[str] = []
            run = ""  # consecutive single characters, written as one literal
            for j, (atom, low, high) in enumerate(option):
                if isinstance(atom, str) and (low, high) == (1, 1):
                    run += atom
                    continue
                if run:
                    parts.append(self.node(run, name))
                    run = ""
                inner = self.node(atom, f"{name}-{k}-{j}")
                if (low, high) == (1, 1):
                    parts.append(inner)
                    continue
                if " " in inner or "|" in inner:
                    inner = self.add_rule(f"{name}-{k}-{j}", inner)
                parts.append(inner + _quantifier(low, high))
            if run:
                parts.append(self.node(run, name))
            options.append(" ".join(parts) if parts else '""')
        if len(options) == 1:
            return options[0]
        return "(" + " | ".join(options) + ")"

    def pattern(self, pattern: str, name: str, any_char: str) -> str:
        """The JSON string rule for `pattern` (UnsupportedPattern when it cannot be written)."""
        start, tree, end = parse_pattern(pattern)
        body = self.node(tree, name)
        if " | " in body and not body.startswith("("):
            body = f"({body})"
        parts = [self.literal('"')]
        if not start:
            parts.append(f"{any_char}*")
        parts.append(body)
        if not end:
            parts.append(f"{any_char}*")
        parts.append(self.literal('"'))
        return self.add_rule(name, " ".join(parts))


def _quantifier(low: int, high: Optional[int]) -> str:
    if (low, high) == (0, None):
        return "*"
    if (low, high) == (1, None):
        return "+"
    if (low, high) == (0, 1):
        return "?"
    if high is None:
        return f"{{{low},}}"
    if low == high:
        return f"{{{low}}}"
    return f"{{{low},{high}}}"
