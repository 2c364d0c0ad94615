"""GBNF (llama.cpp grammar) text: literals, character classes, named rules, free-text rules.

Written for constrained tool-call decoding, where the model may be tiny and random: JSON strings
never contain raw control characters (\\x00-\\x1F, \\x7F), only JSON escapes; whitespace between
JSON tokens is bounded (`ws`), so a model cannot loop on blanks forever; numbers are finite (at
most 20 integer digits and a two-digit exponent). JSON Schemas are turned into rules by
`json_schema`, which builds on this module.

Every class that stands for "any character" lists the Unicode scalar values it allows instead of
negating a few: llama.cpp decodes invalid UTF-8 leniently (a 0xF5 lead byte becomes a code point
above U+10FFFF, ED A0.. a surrogate), and a negated class would let those through wherever nothing
else masks the token (a llama-server samples with the GBNF alone). The top of the range is written
as the character U+10FFFF itself, the one spelling both llama.cpp and llguidance read.

Conventions of the generated rules: a value rule never consumes whitespace after itself; the
container (object, array, call wrapper) places `ws` after each token. Rule names are stable
(derived from the names passed in), so snapshots of generated grammars stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Optional

WS_MAX = 20
"""Most spaces/tabs the `ws` rule allows after its one newline."""

MAX_INT_DIGITS = 20
"""Most digits of an integer with no upper bound (keeps a random model from looping on digits)."""

MAX_EXPONENT_DIGITS = 2
"""Most digits of a positive exponent: 20 digits times 1e99 stays far below the largest double, so
no number the grammar allows is Infinity (a negative exponent may have 3: 5e-324 is a double)."""

TOP_CHAR = chr(0x10FFFF)
"""The last Unicode scalar value, written as itself in classes (see the module docstring)."""


def escape_char(ch: str, in_class: bool) -> str:
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{code:02X}")
    if ch in '"\\':
        return "\\" + ch
    if in_class and ch in "[]^-":
        return f"\\x{code:02X}"
    return ch


def _class_char(code: int) -> str:
    # llguidance reads \u escapes without their leading zeros ("\u0100" becomes "\u100", which
    # its regexes reject): below U+1000 a character is written as \xNN or as itself
    if code < 0x80:
        return escape_char(chr(code), True)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if 0x1000 <= code <= 0xFFFF:
        return f"\\u{code:04X}"
    return chr(code)


def ranges_class(ranges: Iterable[tuple[int, int]]) -> str:
    """A class of the code point ranges (inclusive), written as `valid_class` writes them."""
    body = "".join(
        _class_char(a) if a == b else _class_char(a) + ("" if b == a + 1 else "-") + _class_char(b)
        for a, b in ranges
    )
    return f"[{body}]"


def valid_class(excluded: Iterable[str] = (), low: int = 0x01) -> str:
    """A class of every Unicode scalar value from `low` up, except the `excluded` characters."""
    cut = sorted({ord(c) for c in excluded if ord(c) >= low})
    ranges: list[tuple[int, int]] = []
    for start, end in ((low, 0xD7FF), (0xE000, 0x10FFFF)):
        for code in cut:
            if start <= code <= end:
                if start < code:
                    ranges.append((start, code - 1))
                start = code + 1
        if start <= end:
            ranges.append((start, end))
    return ranges_class(ranges)


_HEX4_NOT_SURROGATE = "([0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})"

BUILTIN_RULES: dict[str, str] = {
    "ws": f'| " " | "\\n" [ \\t]{{0,{WS_MAX}}}',
    "char": valid_class('"\\\x7F' + "".join(map(chr, range(0x20))), low=0x20)
    + f' | "\\\\" (["\\\\/bfnrt] | "u" {_HEX4_NOT_SURROGATE})',
    "string": '"\\"" char* "\\""',
    "integer": f'"-"? ("0" | [1-9] [0-9]{{0,{MAX_INT_DIGITS - 1}}})',
    "number": f'"-"? ("0" | [1-9] [0-9]{{0,{MAX_INT_DIGITS - 1}}}) ("." [0-9]{{1,20}})? '
    f'([eE] ("-" [0-9]{{1,3}} | "+"? [0-9]{{1,{MAX_EXPONENT_DIGITS}}}))?',
    "boolean": '"true" | "false"',
    "null": '"null"',
    "value": "object | array | string | number | boolean | null",
    "object": '"{" ws (string ws ":" ws value ws ("," ws string ws ":" ws value ws)*)? "}"',
    "array": '"[" ws (value ws ("," ws value ws)*)? "]"',
    "any-char": valid_class(),
    "any-text": "any-char*",
}

_RULE_REF = re.compile(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]|([a-zA-Z0-9-]+)')


def sanitize_name(name: str) -> str:
    """A GBNF rule name (letters, digits, dashes) made from any text."""
    cleaned = re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-")
    return re.sub(r"-{2,}", "-", cleaned) or "rule"


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal (quotes, backslashes and control chars escaped; UTF-8 kept)."""
    return '"' + "".join(escape_char(c, False) for c in text) + '"'


_LITERAL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "[": "[", "]": "]"}


def literal_text(body: str) -> Optional[str]:
    """The text of a GBNF string literal's body (what stands between its quotes), or None when it
    holds \\u or \\U escapes (not read here: callers leave such literals as they are)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
        elif body[i + 1] in _LITERAL_ESCAPES:
            out.append(_LITERAL_ESCAPES[body[i + 1]])
            i += 2
        elif body[i + 1] == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        else:
            return None
    return "".join(out)


def special_pieces(text: str, finder: "re.Pattern[str]", token_of: Callable[[str], Optional[int]]) -> Optional[list]:
    """`text` cut at the markers `finder` finds that `token_of` names as special tokens: plain text
    pieces (str) and token ids (int) in order, or None when no marker is a special token."""
    pieces: list = []
    pos = 0
    for found in finder.finditer(text):
        token = token_of(found.group())
        if token is None:
            continue
        if found.start() > pos:
            pieces.append(text[pos : found.start()])
        pieces.append(token)
        pos = found.end()
    if not pieces:
        return None
    if pos < len(text):
        pieces.append(text[pos:])
    return pieces


def gbnf_char_class(chars: Iterable[str], negate: bool = False) -> str:
    """A GBNF character class of the given characters."""
    body = "".join(escape_char(c, True) for c in sorted(set(chars)))
    return f"[{'^' if negate else ''}{body}]"


class GbnfRules:
    """Collects named GBNF rules; renders only those reachable from the root (JSON Schemas:
    `json_schema.GbnfBuilder`).

    Identical rule bodies are shared (the first name wins); a name already taken by another
    body gets a numeric suffix. The builtin JSON rules (`ws`, `string`, `value`, ...) always
    keep their names.
    """

    def __init__(self) -> None:
        self.rules: dict[str, str] = dict(BUILTIN_RULES)
        self._by_body: dict[str, str] = {body: name for name, body in BUILTIN_RULES.items()}
        self.untils: dict[tuple[str, ...], str] = {}

    # -- rules -------------------------------------------------------------------------------

    def literal(self, text: str) -> str:
        """`text` as a GBNF string literal."""
        return gbnf_literal(text)

    def _free_name(self, name: str) -> str:
        base = sanitize_name(name)
        if base == "root":
            base = "root-rule"
        candidate, n = base, 1
        while candidate in self.rules:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def add_rule(self, name: str, body: str) -> str:
        """Add `name ::= body`; returns the rule name actually used (shared when the body exists)."""
        existing = self._by_body.get(body)
        if existing is not None:
            return existing
        sane = sanitize_name(name)
        if self.rules.get(sane) == body:
            return sane
        final = self._free_name(name)
        self.rules[final] = body
        self._by_body[body] = final
        return final

    def reserve(self, name: str) -> str:
        """Reserve a name whose body is set later (recursive $ref targets)."""
        final = self._free_name(name)
        self.rules[final] = '""'  # placeholder until define()
        return final

    def define(self, name: str, body: str) -> None:
        self.rules[name] = body
        self._by_body.setdefault(body, name)

    def render(self, root_body: str, extra_rules: Optional[dict[str, str]] = None) -> str:
        """The grammar text: `root ::= root_body` and every rule reachable from it.

        `extra_rules` (name -> body, written as given) are added for this rendering only.
        """
        rules = {**self.rules, **(extra_rules or {})}
        order: list[str] = []
        seen: set[str] = set()
        pending = _rule_refs(root_body)
        while pending:
            name = pending.pop(0)
            if name in seen or name not in rules:
                continue
            seen.add(name)
            order.append(name)
            pending.extend(_rule_refs(rules[name]))
        lines = [f"root ::= {root_body}"]
        lines += [f"{name} ::= {rules[name]}" for name in sorted(order)]
        return "\n".join(lines) + "\n"


def _rule_refs(body: str) -> list[str]:
    return [m.group(1) for m in _RULE_REF.finditer(body) if m.group(1) and not m.group(1).isdigit()]


def kv_sequence(
    builder: GbnfRules,
    items: Sequence[tuple[str, bool]],
    name: str,
    extra: Optional[str] = None,
    separator: str = '"," ws',
) -> str:
    """Members in the given order, each (rule, required); optional ones may be left out.

    Commas come out right whichever optional members are present. `extra` (a rule) may repeat
    after them (additionalProperties). Returns a GBNF sequence ("" when nothing may appear).
    """
    cache: dict[tuple[int, bool], str] = {}

    def rest(i: int, after_first: bool) -> str:
        if (i, after_first) in cache:
            return cache[(i, after_first)]
        sep = f"{separator} " if after_first else ""
        if i == len(items):
            if extra is None:
                body = ""
            elif after_first:
                body = f"({separator} {extra})*"
            else:
                body = f"({extra} ({separator} {extra})*)?"
        else:
            rule, is_required = items[i]
            taken = f"{sep}{rule} {rest(i + 1, True)}".strip()
            if is_required:
                body = taken
            elif after_first:
                body = f"({sep}{rule})? {rest(i + 1, True)}".strip()
            else:
                skipped = rest(i + 1, False)
                body = f"({taken} | {skipped})" if skipped else f"({taken})?"
        if i + 1 < len(items) and (" | " in body or len(body) > 60):
            suffix = "" if after_first else "-first"
            body = builder.add_rule(f"{name}-rest-{i}{suffix}", body)
        cache[(i, after_first)] = body
        return body

    return rest(0, False)


# -- free text -----------------------------------------------------------------------------------


def until_rule(builder: GbnfRules, stop_text: str | Sequence[str], name: str = "") -> str:
    """A rule for any text that does not contain `stop_text` (or any of several stop texts).

    Built as the automaton of the stop texts (right-linear rules, one per matched prefix), so
    overlapping prefixes ("<</think>") are handled. The rule also never ends where the stop text
    written right after it would complete a stop earlier, so `rule STOP` matches STOP exactly once.
    """
    stops = [stop_text] if isinstance(stop_text, str) else list(dict.fromkeys(stop_text))
    stops = [s for s in stops if s]
    if not stops:
        return "any-text"
    key = tuple(stops)
    if key in builder.untils:
        return builder.untils[key]
    base = sanitize_name(name or "until-" + "-".join(stops))
    prefixes = sorted({s[:i] for s in stops for i in range(len(s))}, key=lambda p: (len(p), p))
    alphabet = sorted({c for s in stops for c in s})

    def step(state: str, ch: str) -> Optional[str]:
        text = state + ch
        if any(text.endswith(s) for s in stops):
            return None
        while text not in prefixes:
            text = text[1:]
        return text

    def accepting(state: str) -> bool:
        for stop in stops:
            current: Optional[str] = state
            for ch in stop[:-1]:
                current = step(current, ch)
                if current is None:
                    return False
        return True

    names = {p: builder.reserve(base if i == 0 else f"{base}-{i}") for i, p in enumerate(prefixes)}
    builder.untils[key] = names[""]
    for state in prefixes:
        by_target: dict[str, list[str]] = {}
        for ch in alphabet:
            target = step(state, ch)
            if target is not None:
                by_target.setdefault(target, []).append(ch)
        # every character that leads back to the start state, in one negated class
        elsewhere = [c for c in alphabet if step(state, c) != ""]
        alts = [f"{valid_class(elsewhere)} {names['']}"]
        by_target.pop("", None)
        for target, chars in sorted(by_target.items(), key=lambda kv: (len(kv[0]), kv[0])):
            lead = gbnf_literal(chars[0]) if len(chars) == 1 else gbnf_char_class(chars)
            alts.append(f"{lead} {names[target]}")
        if accepting(state):
            alts.insert(0, "")
        builder.define(names[state], " | ".join(alts).lstrip())
    return names[""]
