"""llama.cpp's own GBNF engine, driven from Python through the low-level ctypes API.

Two native failure modes are kept out of reach here:
- `llama_sampler_init_grammar` returns NULL on a parse error, and a NULL sampler handed on
  segfaults: every grammar goes through `validate_gbnf` first.
- `llama_grammar_accept_impl` throws (C++ exception -> abort) on a token the grammar rejects,
  and aborts on a disallowed end-of-generation token. So a token is only ever accepted after
  `llama_sampler_apply` on a one-candidate array left its logit finite, and a lazy grammar's
  trigger replay is checked on a fresh (non-lazy) copy of the grammar before the real one sees it.
Trigger patterns are compiled by std::regex inside llama.cpp (which throws on a bad pattern), so
they are checked here with Python's `re` first, rejecting syntax ECMAScript does not have.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import re
import sys
import tempfile
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import llama_cpp

ROOT = b"root"


class GrammarError(ValueError):
    """A GBNF grammar (or a trigger pattern) that llama.cpp would not accept."""


# -- vocabulary ------------------------------------------------------------------------------


class Vocab:
    """A llama.cpp vocabulary with cached token pieces (special tokens rendered as text)."""

    def __init__(self, llama: "llama_cpp.Llama"):
        self.llama = llama  # keeps the model (and so the vocab pointer) alive
        self.ptr = llama._model.vocab
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.ptr))
        self._pieces: dict[int, bytes] = {}
        self._special_ids: dict[str, Optional[int]] = {}
        self.valid_grammars: set[str] = set()  # grammars validate_gbnf passed for this vocab
        candidates = itertools.chain(
            (llama_cpp.llama_vocab_eos(self.ptr), llama_cpp.llama_vocab_eot(self.ptr)),
            range(self.n_vocab),
        )
        # any EOG token will do: the grammar allows all of them or none
        self.eog_token = next((t for t in candidates if t >= 0 and self.is_eog(t)), -1)

    def tokenize(self, text: Union[str, bytes], *, special: bool) -> list[int]:
        """Token ids of `text`, no BOS added; `special=True` matches control tokens by text."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        if not data:
            return []
        size = len(data) + 8
        buf = (llama_cpp.llama_token * size)()
        n = llama_cpp.llama_tokenize(self.ptr, data, len(data), buf, size, False, special)
        if n < 0:  # never for byte-level BPE, but a model may differ
            size = -n
            buf = (llama_cpp.llama_token * size)()
            n = llama_cpp.llama_tokenize(self.ptr, data, len(data), buf, size, False, special)
            if n < 0:
                raise RuntimeError(f"llama.cpp failed to tokenize {text!r}")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes of one token, special tokens included (what the grammar engine sees)."""
        cached = self._pieces.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self.ptr, token, buf, 64, 0, True)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.ptr, token, buf, -n, 0, True)
            cached = self._pieces[token] = buf.raw[: max(n, 0)]
        return cached

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.ptr, token))

    def special_token(self, text: str) -> Optional[int]:
        """The id of the control/user-defined token spelled exactly `text`, else None."""
        if text not in self._special_ids:
            ids = self.tokenize(text, special=True)
            single = len(ids) == 1 and self.tokenize(text, special=False) != ids
            self._special_ids[text] = ids[0] if single else None
        return self._special_ids[text]


_VOCABS: "weakref.WeakKeyDictionary[Any, Vocab]" = weakref.WeakKeyDictionary()
_VOCAB_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _vocab_from_path(path: str) -> Vocab:
    with _native_messages():  # a vocab-only load still warns about the context size
        llama = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    return Vocab(llama)


def get_vocab(vocab: Union[None, Vocab, "llama_cpp.Llama", str, os.PathLike] = None) -> Vocab:
    """A Vocab for: None (the tiny model's, cached), a Vocab, a Llama, or a GGUF path."""
    if isinstance(vocab, Vocab):
        return vocab
    if vocab is None:
        from .tiny_model import ensure_tiny_model

        return _vocab_from_path(str(ensure_tiny_model()))
    if isinstance(vocab, (str, os.PathLike)):
        return _vocab_from_path(str(Path(vocab)))
    with _VOCAB_LOCK:
        found = _VOCABS.get(vocab)
        if found is None:
            found = _VOCABS[vocab] = Vocab(vocab)
        return found


VocabLike = Union[None, Vocab, "llama_cpp.Llama", str, os.PathLike]


# -- native log capture ----------------------------------------------------------------------

_LOG_LOCK = threading.Lock()


@contextmanager
def _native_messages() -> Iterator[list[str]]:
    """Collect what llama.cpp says meanwhile: its log callback plus raw fprintf(stderr)."""
    messages: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(level: int, text: bytes, user_data: Any) -> None:
        messages.append(text.decode("utf-8", "replace"))

    with _LOG_LOCK:
        saved = tmp = None
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            tmp = tempfile.TemporaryFile()
            os.dup2(tmp.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2: log callback only
            if saved is not None:
                os.close(saved)
            saved = None
        llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
        try:
            yield messages
        finally:
            from llama_cpp import _logger

            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            if tmp is not None:
                tmp.seek(0)
                messages.insert(0, tmp.read().decode("utf-8", "replace"))
                tmp.close()


# -- validation ------------------------------------------------------------------------------


def _new_grammar(vocab: Vocab, gbnf: str) -> Any:
    """A non-lazy grammar sampler; only call with a validated grammar."""
    return llama_cpp.llama_sampler_init_grammar(vocab.ptr, gbnf.encode("utf-8"), ROOT)


# a GBNF token: string literal, char class, comment, or a {m,n} repetition (the rest is skipped)
_GBNF_SCAN = re.compile(
    r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|#[^\n]*|\{\s*(\d+)\s*,\s*(\d+)\s*\}'
)


def _check_repetitions(gbnf: str) -> None:
    """Reject `{m,n}` with n < m: llama.cpp's parser then loops on an unsigned underflow and
    allocates until the process is killed (llama-grammar.cpp handle_repetitions)."""
    for match in _GBNF_SCAN.finditer(gbnf):
        if match.group(1) is not None and int(match.group(2)) < int(match.group(1)):
            raise GrammarError(
                f"llama.cpp rejects the grammar: repetition {match.group(0)} has max < min"
            )


def validate_gbnf(gbnf: str, *, vocab: VocabLike = None) -> None:
    """Raise GrammarError with llama.cpp's message when it cannot parse `gbnf` (root rule `root`)."""
    if not isinstance(gbnf, str) or not gbnf.strip():
        raise GrammarError("empty grammar")
    if "\x00" in gbnf:
        raise GrammarError("grammar contains a NUL character")
    voc = get_vocab(vocab)
    if gbnf in voc.valid_grammars:
        return
    _check_repetitions(gbnf)
    with _native_messages() as messages:
        smpl = _new_grammar(voc, gbnf)
    if not smpl:
        detail = " ".join(" ".join(messages).split())
        detail = detail.replace(" " + " ".join(gbnf.split()), "")  # the parser echoes the grammar
        detail = detail.replace("parse: error parsing grammar: ", "")
        raise GrammarError(f"llama.cpp rejects the grammar: {detail or 'parse error'}")
    llama_cpp.llama_sampler_free(smpl)
    if len(voc.valid_grammars) > 512:
        voc.valid_grammars.clear()
    voc.valid_grammars.add(gbnf)


def regex_escape(word: str) -> str:
    """common.cpp's regex_escape: backslash before . ^ $ | ( ) * + ? [ ] { } \\."""
    return re.sub(r"[.^$|()*+?\[\]{}\\]", lambda m: "\\" + m.group(0), word)


_QUANTIFIER = re.compile(r"\{\d+(?:,\d*)?\}")
_SAME_ESCAPES = frozenset("dDsSwWbBnrtfvx0123456789")


@lru_cache(maxsize=256)
def _to_python_regex(pattern: str) -> "re.Pattern[bytes]":
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
    _to_python_regex(pattern)


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
            _to_python_regex(pattern)  # raises GrammarError before std::regex could throw
        return out

    def lazy_sampler(self, vocab: Vocab, gbnf: str) -> Any:
        """llama_sampler_init_grammar_lazy_patterns with these triggers (validate gbnf first)."""
        pats = (ctypes.c_char_p * max(1, len(self.patterns)))(*[p.encode("utf-8") for p in self.patterns])
        toks = (llama_cpp.llama_token * max(1, len(self.tokens)))(*self.tokens)
        return llama_cpp.llama_sampler_init_grammar_lazy_patterns(
            vocab.ptr, gbnf.encode("utf-8"), ROOT, pats, len(self.patterns), toks, len(self.tokens)
        )


# -- token checks ----------------------------------------------------------------------------


class _OneCandidate:
    """A reusable one-entry llama_token_data_array to ask a sampler about a single token."""

    def __init__(self) -> None:
        self.data = (llama_cpp.llama_token_data * 1)()
        self.array = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self.data, llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False
        )
        self.ref = ctypes.byref(self.array)

    def allowed(self, sampler: Any, token: int) -> bool:
        entry = self.data[0]
        entry.id, entry.logit, entry.p = token, 0.0, 0.0
        self.array.data = ctypes.cast(self.data, llama_cpp.llama_token_data_p)
        self.array.size, self.array.selected = 1, -1
        llama_cpp.llama_sampler_apply(sampler, self.ref)
        return not math.isinf(self.array.data[0].logit)


def _feed(sampler: Any, tokens: Sequence[int], probe: _OneCandidate) -> bool:
    """Accept tokens one by one while the grammar allows them; False at the first rejected one."""
    for token in tokens:
        if not probe.allowed(sampler, token):
            return False
        llama_cpp.llama_sampler_accept(sampler, token)
    return True


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
                    tail = _to_python_regex(pattern[len(prefix) :])
                    rest = tail if tail.groups else None
        return cls(pattern, _to_python_regex(pattern), rest)

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
            self._base = _new_grammar(self.vocab, self.gbnf)
        sampler = llama_cpp.llama_sampler_clone(self._base)
        try:
            probe = _OneCandidate()
            for i, (token, piece) in enumerate(replay):
                if i == 0 and piece != self.vocab.piece(token):
                    # a partial first piece: check its text as the tokens it tokenizes to
                    ids = self.vocab.tokenize(piece, special=True)
                    if not _feed(sampler, ids, probe):
                        return False
                elif not _feed(sampler, [token], probe):
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


# -- public checks ---------------------------------------------------------------------------


def accepts(gbnf: str, text: str, *, complete: bool = True, vocab: VocabLike = None) -> bool:
    """Whether llama.cpp's grammar engine accepts `text` (tokenized with special tokens).

    With complete=True the grammar must also allow an end-of-generation token after the text.
    Raises GrammarError when the grammar itself is invalid.
    """
    voc = get_vocab(vocab)
    validate_gbnf(gbnf, vocab=voc)
    sampler = _new_grammar(voc, gbnf)
    try:
        probe = _OneCandidate()
        if not _feed(sampler, voc.tokenize(text, special=True), probe):
            return False
        return not complete or (voc.eog_token >= 0 and probe.allowed(sampler, voc.eog_token))
    finally:
        llama_cpp.llama_sampler_free(sampler)


def lazy_accepts(
    gbnf: str,
    text: str,
    *,
    words: Iterable[str] = (),
    tokens: Iterable[Union[str, int]] = (),
    patterns: Iterable[str] = (),
    patterns_full: Iterable[str] = (),
    vocab: VocabLike = None,
) -> tuple[bool, bool]:
    """(triggered, accepted) for `text` under a lazy grammar with these triggers.

    `triggered`: a trigger fires somewhere in the text (Python emulation of llama.cpp's search).
    `accepted`: the real lazy sampler took every token and allows end-of-generation after them.
    """
    voc = get_vocab(vocab)
    validate_gbnf(gbnf, vocab=voc)
    triggers = Triggers.build(voc, words, tokens, patterns, patterns_full)
    watch = TriggerWatch(voc, gbnf, triggers)
    sampler = triggers.lazy_sampler(voc, gbnf)
    if not sampler:  # cannot happen after validation, but never hand NULL on
        raise GrammarError("llama.cpp could not build the lazy grammar sampler")
    try:
        probe = _OneCandidate()
        for token in voc.tokenize(text, special=True):
            if watch.awaiting:
                replay = watch.replay_for(token)
                if replay is not None and not watch.replay_ok(replay):
                    return True, False
                watch.commit(token)
            elif not probe.allowed(sampler, token):
                return True, False
            llama_cpp.llama_sampler_accept(sampler, token)
        if watch.awaiting:
            return False, False
        return True, voc.eog_token >= 0 and probe.allowed(sampler, voc.eog_token)
    finally:
        llama_cpp.llama_sampler_free(sampler)
        watch.close()


def plan_check(plan: Any, text: str, *, vocab: VocabLike = None) -> tuple[bool, bool]:
    """(a trigger of `plan` fires in `text`, llama.cpp's grammar engine accepts it from there on).

    A non-lazy grammar applies from the first token, so it must accept the whole text.
    """
    if not plan.lazy:
        return True, accepts(plan.gbnf, text, vocab=vocab)
    return lazy_accepts(
        plan.gbnf,
        text,
        words=plan.words,
        tokens=plan.tokens,
        patterns=plan.patterns,
        patterns_full=plan.patterns_full,
        vocab=vocab,
    )


def plan_rejection(plan: Any, text: str, *, vocab: VocabLike = None) -> Optional[str]:
    """Why `plan`'s grammar would not produce `text` (None when it would)."""
    triggered, accepted = plan_check(plan, text, vocab=vocab)
    if not triggered:
        return "no trigger fires in it"
    if not accepted:
        return "the grammar rejects it after its trigger" if plan.lazy else "the grammar rejects it"
    return None
