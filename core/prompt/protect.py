"""Client text never becomes a control token, however the template transforms it.

Before rendering, every occurrence of a control token's text inside a client string (any string
of the messages and tools: contents, names, ids, arguments, tool results, descriptions, schemas,
keys), matched without regard to case, and every end of a client string that could join the
template text beside it into one (a suffix that begins a control text, a prefix that ends one),
is replaced by a placeholder: one character of the Private Use Areas on planes 15-16, which no
template filter turns into anything else (no case, not whitespace, kept by `tojson`). Client
characters already in that range are replaced too, so the mapping reverses exactly. The
rendered prompt is then split at the placeholders: template text is tokenized with special-token
parsing, each placeholder as its original text without it (cut so that no piece holds a whole
control text, which a vocabulary's user-defined tokens would still match). Nothing here looks
for the client's string in the prompt, so a template that trims, re-serialises, cuts or
upper-cases it changes nothing.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from .request import RequestError

__all__ = ["Protection", "protect_request", "split_pieces"]

# Planes 15 and 16 (Supplementary Private Use Areas A and B), without their noncharacters.
_PRIVATE = "\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_PRIVATE_CHAR = re.compile(f"[{_PRIVATE}]")
_PLACEHOLDERS = [*range(0xF0000, 0xFFFFE), *range(0x100000, 0x10FFFE)]
# Keys and these values are names a template compares: only whole control texts are replaced
# there, so a name that merely ends like a control text begins keeps working.
_NAME_VALUES = frozenset({"role", "type"})


def _trie_regex(texts: Iterable[str]) -> str:
    """An alternation of `texts` as a trie, so matching costs the depth, not the count."""
    trie: dict[str, Any] = {}
    for text in texts:
        node = trie
        for ch in text:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return emit(trie)


class Danger:
    """What must not reach the template as client text, for one set of control texts."""

    def __init__(self, control: Iterable[str]):
        texts = sorted({t for t in control if t})
        folded = {t.casefold() for t in texts} | {t.lower() for t in texts}
        alternatives = [f"[{_PRIVATE}]"]
        if folded:
            alternatives.insert(0, _trie_regex(folded))
        self.anywhere = re.compile("|".join(alternatives), re.IGNORECASE)
        self.exact = re.compile(_trie_regex(texts)) if texts else None
        self.prefixes = {t[:i] for t in folded for i in range(1, len(t))}
        self.suffixes = {t[i:] for t in folded for i in range(1, len(t))}
        self.longest = max((len(t) for t in folded), default=0)
        # an end that joins must start like a control text begins (or end like one ends)
        self.firsts = {ch for t in self.prefixes for ch in (t[0], t[0].upper())}
        self.lasts = {ch for t in self.suffixes for ch in (t[-1], t[-1].upper())}
        # most client strings hold none of the characters any of this starts or ends with
        starts = {t[0] for t in folded} | self.firsts | self.lasts
        self.relevant = re.compile("[" + "".join(re.escape(ch) for ch in sorted(starts)) + _PRIVATE + "]", re.IGNORECASE)

    def edge(self, text: str, at_end: bool) -> int:
        """Length of the longest end of `text` (its last characters when `at_end`, else its
        first) that could join the template text beside it into a control text."""
        pool, chars = (self.prefixes, self.firsts) if at_end else (self.suffixes, self.lasts)
        for size in range(min(len(text), self.longest - 1), 0, -1):
            if (text[-size] if at_end else text[size - 1]) not in chars:
                continue
            piece = text[-size:] if at_end else text[:size]
            if piece.casefold() in pool or piece.lower() in pool:
                return size
        return 0


@functools.lru_cache(maxsize=16)
def _danger(control: frozenset[str]) -> Danger:
    return Danger(control)


@dataclass
class Protection:
    """A request with its client text protected, and the way back."""

    request: dict[str, Any]
    originals: dict[str, str] = field(default_factory=dict)  # placeholder -> the client's text
    control: frozenset[str] = frozenset()
    _by_text: dict[str, str] = field(default_factory=dict)

    def placeholder(self, text: str) -> str:
        found = self._by_text.get(text)
        if found is None:
            if len(self.originals) >= len(_PLACEHOLDERS):
                raise RequestError("the request holds too many distinct control-token texts and private-use characters")
            found = chr(_PLACEHOLDERS[len(self.originals)])
            self._by_text[text] = found
            self.originals[found] = text
        return found

    def restore(self, rendered: str) -> str:
        """The rendered prompt as it reads with the client's own text (what is displayed)."""
        if not self.originals:
            return rendered
        return _PRIVATE_CHAR.sub(lambda m: self.originals.get(m.group(), m.group()), rendered)

    def parts(self, rendered: str) -> list[tuple[str, bool]]:
        """(text, parse_special) parts of the rendered prompt: the template's text with special
        tokens, the client's protected text without (in pieces no control text spans)."""
        if not self.originals:
            return [(rendered, True)]
        parts: list[tuple[str, bool]] = []
        cursor = 0
        for match in re.finditer(f"[{_PRIVATE}]+", rendered):
            run = match.group()
            if not any(ch in self.originals for ch in run):
                continue  # the template's own private-use text
            if match.start() > cursor:
                parts.append((rendered[cursor : match.start()], True))
            original = "".join(self.originals.get(ch, ch) for ch in run)
            parts += [(piece, False) for piece in split_pieces(original, self.control)]
            cursor = match.end()
        if cursor < len(rendered):
            parts.append((rendered[cursor:], True))
        return parts


def split_pieces(text: str, control: frozenset[str]) -> list[str]:
    """`text` cut after the first character of each control text in it, so no piece holds one."""
    exact = _danger(control).exact
    if exact is None:
        return [text]
    pieces, start, pos = [], 0, 0
    while True:
        match = exact.search(text, pos)
        if match is None or match.end() - match.start() < 2:
            break
        cut = match.start() + 1
        pieces.append(text[start:cut])
        start = pos = cut
    pieces.append(text[start:])
    return [p for p in pieces if p]


class _Protector:
    def __init__(self, protection: Protection, danger: Danger):
        self.protection = protection
        self.danger = danger

    def text(self, text: str, edges: bool = True) -> str:
        danger = self.danger
        if not danger.relevant.search(text):
            return text
        spans = [m.span() for m in danger.anywhere.finditer(text)]
        if edges:  # measured inside surrounding whitespace: a template may trim it away
            start, end = len(text) - len(text.lstrip()), len(text.rstrip())
            if end > start:
                body = text[start:end]
                head, tail = danger.edge(body, at_end=False), danger.edge(body, at_end=True)
                if head:
                    spans.append((start, start + head))
                if tail:
                    spans.append((end - tail, end))
        if not spans:
            return text
        spans.sort()
        out, cursor, place = [], 0, self.protection.placeholder
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            out.append(text[cursor:start])
            out.append(place(text[start:end]))
            cursor = end
        out.append(text[cursor:])
        return "".join(out)

    def value(self, value: Any, edges: bool = True) -> Any:
        if isinstance(value, str):
            return self.text(value, edges)
        if isinstance(value, list):
            items = [self.value(v) for v in value]
            return value if all(a is b for a, b in zip(items, value)) else items
        if isinstance(value, dict):
            return self.mapping(value)
        return value

    def mapping(self, mapping: dict[str, Any]) -> dict[str, Any]:
        out: dict[Any, Any] = {}
        changed = False
        for key, item in mapping.items():
            new_key = self.text(key, edges=False) if isinstance(key, str) else key
            if key == "arguments" and isinstance(item, str):
                new_item = self.arguments(item)
            else:
                new_item = self.value(item, edges=key not in _NAME_VALUES)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else mapping

    def arguments(self, raw: str) -> str:
        """A call's arguments as JSON text: protected as text where that protects the values
        too, else re-serialised (escapes such as \\u003c would hide a control text)."""
        try:
            parsed = json.loads(raw)
        except ValueError:
            return self.text(raw)
        protected = self.value(parsed)
        as_text = self.text(raw, edges=False)
        if protected is parsed and as_text is raw:
            return raw
        try:
            if json.loads(as_text) == protected:
                return as_text
        except ValueError:
            pass
        return json.dumps(protected, ensure_ascii=False)


def protect_request(request: dict[str, Any], control: Iterable[str]) -> Protection:
    """The request with every client string protected (`Protection.request`; the request itself
    when nothing needed it). Render that, then `restore` and `parts` the result."""
    control = frozenset(control)
    protection = Protection(request, control=control)
    protector = _Protector(protection, _danger(control))
    fields = {}
    for key in ("messages", "tools", "tool_choice"):
        value = request.get(key)
        if value is not None:
            try:
                new = protector.value(value)
            except RecursionError:
                raise RequestError(f"{key} is nested too deeply") from None
            if new is not value:
                fields[key] = new
    if fields:
        protection.request = {**request, **fields}
    return protection


def protected_strings(protection: Protection) -> Optional[dict[str, str]]:
    """The placeholder table, or None when nothing was protected (for tests and tracing)."""
    return dict(protection.originals) or None
