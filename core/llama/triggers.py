"""Lazy-grammar triggers as llama.cpp handles them, and their emulation in Python.

Trigger patterns are compiled by std::regex inside llama.cpp (which throws, i.e. aborts, on a bad
pattern), so they are checked here with Python's `re` first, rejecting syntax ECMAScript does not
have. `TriggerWatch` emulates the lazy grammar's trigger search so a caller knows before accepting
a token that it fires the trigger, and can check the replayed text on a fresh copy of the grammar.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Optional, Union

import llama_cpp

from .gbnf import ROOT, GrammarError, OneCandidate, feed_tokens, new_grammar
from .vocab import Vocab


def regex_escape(word: str) -> str:
    """common.cpp's regex_escape: backslash before . ^ $ | ( ) * + ? [ ] { } \\."""
    return re.sub(r"[.^$|()*+?\[\]{}\\]", lambda m: "\\" + m.group(0), word)


_QUANTIFIER = re.compile(r"\{\d+(?:,\d*)?\}")
_SAME_ESCAPES = frozenset("dDsSwWbBnrtfvx0123456789")


@lru_cache(maxsize=256)
def to_python_regex(pattern: str) -> "re.Pattern[bytes]":
    """Check an ECMAScript trigger pattern and translate it for Python's `re` on bytes.

    Raises GrammarError where libstdc++'s std::regex would throw (it would abort llama.cpp):
    a `{` that is not a quantifier, `(?` other than `(?:`, `(?=`, `(?!`. Translation: `$` only
    matches at the very end, `.` excludes \\n and \\r (as in ECMAScript).
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            esc = pattern[i + 1]
            # only escapes that mean the same in ECMAScript and Python: others (\A \Z \z
            # \p ...) would make the Python mirror and std::regex disagree on when a trigger fires
            if esc.isalnum() and esc not in _SAME_ESCAPES:
                raise GrammarError(f"trigger pattern {pattern!r}: unsupported escape \\{esc}")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "[":  # std::regex reads [:alpha:] [.x.] [=x=] here; Python a literal "["
                raise GrammarError(f"trigger pattern {pattern!r}: write a '[' inside [...] as \\[")
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]" or pattern[i + 1 : i + 3] == "^]":
                # ECMAScript's `[]` (nothing) / `[^]` (anything)
                out.append("(?!)" if pattern[i + 1] == "]" else "[\\s\\S]")
                i += 2 if pattern[i + 1] == "]" else 3
                in_class = False
                continue
        elif ch == "{":
            quantifier = _QUANTIFIER.match(pattern, i)
            if not quantifier:
                raise GrammarError(f"trigger pattern {pattern!r}: unescaped '{{' at {i} is not a quantifier")
            out.append(quantifier.group(0))
            i = quantifier.end()
            continue
        elif ch == "(" and pattern[i + 1 : i + 2] == "?" and pattern[i + 2 : i + 3] not in (":", "=", "!"):
            raise GrammarError(f"trigger pattern {pattern!r}: std::regex supports only (?: (?= (?!")
        elif ch == "+" and out and out[-1][-1:] in ("*", "+", "?", "}") and not out[-1].startswith("\\"):
            raise GrammarError(f"trigger pattern {pattern!r}: possessive quantifiers are not ECMAScript")
        elif ch == "$":
            ch = r"\Z"
        elif ch == ".":
            ch = r"[^\n\r]"
        out.append(ch)
        i += 1
    try:
        return re.compile("".join(out).encode("utf-8"))
    except re.error as exc:
        raise GrammarError(f"trigger pattern {pattern!r} is not a valid regex: {exc}") from None


def check_trigger_pattern(pattern: str) -> None:
    """Raise GrammarError for a trigger regex llama.cpp's std::regex would reject (abort)."""
    to_python_regex(pattern)


@dataclass
class Triggers:
    """Lazy-grammar triggers converted as common/sampling.cpp does (words -> escaped patterns)."""

    patterns: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        vocab: Vocab,
        words: Iterable[str] = (),
        tokens: Iterable[Union[str, int]] = (),
        patterns: Iterable[str] = (),
        patterns_full: Iterable[str] = (),
    ) -> "Triggers":
        out = cls()
        for word in words:
            token = vocab.special_token(word)
            if token is not None:
                out.tokens.append(token)
            elif word:
                out.patterns.append(regex_escape(word))
        for token in tokens:
            if isinstance(token, int):
                out.tokens.append(token)
                continue
            ids = vocab.tokenize(token, special=True)
            if len(ids) != 1:
                raise GrammarError(f"trigger token {token!r} is not a single token of this model")
            out.tokens.append(ids[0])
        out.patterns.extend(patterns)
        for pattern in patterns_full:
            if not pattern:
                out.patterns.append("^$")
                continue
            head = "" if pattern.startswith("^") else "^"
            tail = "" if pattern.endswith("$") else "$"
            out.patterns.append(head + pattern + tail)
        for pattern in out.patterns:
            to_python_regex(pattern)  # raises GrammarError before std::regex could throw
        return out

    def lazy_sampler(self, vocab: Vocab, gbnf: str) -> Any:
        """llama_sampler_init_grammar_lazy_patterns with these triggers (validate gbnf first)."""
        pats = (ctypes.c_char_p * max(1, len(self.patterns)))(*[p.encode("utf-8") for p in self.patterns])
        toks = (llama_cpp.llama_token * max(1, len(self.tokens)))(*self.tokens)
        return llama_cpp.llama_sampler_init_grammar_lazy_patterns(
            vocab.ptr, gbnf.encode("utf-8"), ROOT, pats, len(self.patterns), toks, len(self.tokens)
        )


_LAZY_ANY_PREFIX = ("[\\s\\S]*?", "[\\S\\s]*?")


@dataclass
class _Trigger:
    """One pattern with llama_grammar_trigger_pattern::find's semantics."""

    pattern: str
    regex: "re.Pattern[bytes]"
    # `[\s\S]*?(X)...` searched from 0 costs O(n^2); searching `(X)...` finds the same groups
    rest: Optional["re.Pattern[bytes]"] = None

    @classmethod
    def of(cls, pattern: str) -> "_Trigger":
        rest = None
        if not (pattern.startswith("^") and pattern.endswith("$")):
            for prefix in _LAZY_ANY_PREFIX:
                if pattern.startswith(prefix) and len(pattern) > len(prefix):
                    tail = to_python_regex(pattern[len(prefix) :])
                    rest = tail if tail.groups else None
        return cls(pattern, to_python_regex(pattern), rest)

    def find(self, buffer: bytes) -> Optional[int]:
        if self.rest is not None:
            match = self.rest.search(buffer)
            if match is None:
                return None
            return next((match.start(i) for i in range(1, self.rest.groups + 1) if match.group(i)), 0)
        match = None
        if self.pattern.startswith("^") and self.pattern.endswith("$"):
            match = self.regex.fullmatch(buffer)
        match = match or self.regex.search(buffer)
        if match is None:
            return None
        groups = range(1, self.regex.groups + 1)
        return next((match.start(i) for i in groups if match.group(i)), match.start(0))


class TriggerWatch:
    """Emulates a lazy grammar's trigger search (llama_grammar_accept_impl) in Python.

    Lets a caller know *before* accepting a token that it fires the trigger, and check on a
    fresh copy of the grammar that the replayed text is accepted, so the real lazy sampler never
    throws. Pattern semantics: llama_grammar_trigger_pattern::find (first non-empty capture
    group, else the whole match; `^...$` tried as a full match first).
    """

    def __init__(self, vocab: Vocab, gbnf: str, triggers: Triggers):
        self.vocab = vocab
        self.gbnf = gbnf
        self.trigger_tokens = frozenset(triggers.tokens)
        self.regexes = [_Trigger.of(p) for p in triggers.patterns]
        self.awaiting = True
        self.buffer = b""
        self.positions: list[tuple[int, int, int]] = []  # (token, start, end) in buffer
        self._base: Any = None
        self._last: Optional[tuple[int, Optional[list[tuple[int, bytes]]]]] = None

    def _find(self, buffer: bytes) -> Optional[int]:
        for trigger in self.regexes:
            start = trigger.find(buffer)
            if start is not None:
                return start
        return None

    def replay_for(self, token: int) -> Optional[list[tuple[int, bytes]]]:
        """(token, piece) pairs the grammar would be fed if `token` fires the trigger, else None."""
        if not self.awaiting:
            return None
        if self._last is not None and self._last[0] == token:
            return self._last[1]
        replay = self._replay_for(token)
        self._last = (token, replay)
        return replay

    def _replay_for(self, token: int) -> Optional[list[tuple[int, bytes]]]:
        if token in self.trigger_tokens:
            return [(token, self.vocab.piece(token))]
        if not self.regexes:
            return None
        piece = self.vocab.piece(token)
        buffer = self.buffer + piece
        start = self._find(buffer)
        if start is None:
            return None
        spans = self.positions + [(token, len(self.buffer), len(buffer))]
        return [(tok, buffer[max(s, start) : e]) for tok, s, e in spans if e > start]

    def replay_ok(self, replay: list[tuple[int, bytes]]) -> bool:
        """Whether a fresh copy of the grammar accepts the replayed pieces (never throws)."""
        if self._base is None:
            self._base = new_grammar(self.vocab, self.gbnf)
        sampler = llama_cpp.llama_sampler_clone(self._base)
        try:
            probe = OneCandidate()
            for i, (token, piece) in enumerate(replay):
                if i == 0 and piece != self.vocab.piece(token):
                    # a partial first piece: check its text as the tokens it tokenizes to
                    ids = self.vocab.tokenize(piece, special=True)
                    if not feed_tokens(sampler, ids, probe):
                        return False
                elif not feed_tokens(sampler, [token], probe):
                    return False
            return True
        finally:
            llama_cpp.llama_sampler_free(sampler)

    def commit(self, token: int) -> bool:
        """Record an accepted token; True when it fired the trigger."""
        if not self.awaiting:
            return False
        fired = self.replay_for(token) is not None
        self._last = None
        if fired:
            self.awaiting = False
            self.buffer, self.positions = b"", []
        else:
            start = len(self.buffer)
            self.buffer += self.vocab.piece(token)
            self.positions.append((token, start, len(self.buffer)))
        return fired

    def close(self) -> None:
        if self._base is not None:
            llama_cpp.llama_sampler_free(self._base)
            self._base = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

