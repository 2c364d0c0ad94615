"""llama.cpp's own GBNF engine, driven from Python through the low-level ctypes API.

Two native failure modes are kept out of reach here:
- `llama_sampler_init_grammar` returns NULL on a parse error, and a NULL sampler handed on
  segfaults: every grammar goes through `validate_gbnf` first.
- `llama_grammar_accept_impl` throws (C++ exception -> abort) on a token the grammar rejects,
  and aborts on a disallowed end-of-generation token. So a token is only ever accepted after
  `llama_sampler_apply` on a one-candidate array left its logit finite (`OneCandidate`), and a
  lazy grammar's trigger replay is checked on a fresh (non-lazy) copy of the grammar before the
  real one sees it (`triggers.TriggerWatch`).
"""

from __future__ import annotations

import ctypes
import math
import re
from typing import Any, Callable, Optional, Sequence

import llama_cpp

from ..grammar.gbnf import gbnf_literal, literal_text, special_pieces
from .native import native_messages
from .vocab import Vocab, VocabLike, get_vocab

ROOT = b"root"


class GrammarError(ValueError):
    """A GBNF grammar (or a trigger pattern) that llama.cpp would not accept."""


def new_grammar(vocab: Vocab, gbnf: str) -> Any:
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
    with native_messages() as messages:
        smpl = new_grammar(voc, gbnf)
    if not smpl:
        detail = " ".join(" ".join(messages).split())
        detail = detail.replace(" " + " ".join(gbnf.split()), "")  # the parser echoes the grammar
        detail = detail.replace("parse: error parsing grammar: ", "")
        raise GrammarError(f"llama.cpp rejects the grammar: {detail or 'parse error'}")
    llama_cpp.llama_sampler_free(smpl)
    if len(voc.valid_grammars) > 512:
        voc.valid_grammars.clear()
    voc.valid_grammars.add(gbnf)


class OneCandidate:
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


def feed_tokens(sampler: Any, tokens: Sequence[int], probe: OneCandidate) -> bool:
    """Accept tokens one by one while the grammar allows them; False at the first rejected one."""
    for token in tokens:
        if not probe.allowed(sampler, token):
            return False
        llama_cpp.llama_sampler_accept(sampler, token)
    return True


_GBNF_PIECE = re.compile(r'"((?:\\.|[^"\\])*)"|\[(?:\\.|[^\]\\])*\]|#[^\n]*|<\[\d+\]>')


def token_references(gbnf: str, special_token: Callable[[str], Optional[int]], candidates: "re.Pattern[str]") -> str:
    """`gbnf` with every marker that the vocabulary holds as one special token written as that
    token (`<[id]>`) instead of text.

    llama.cpp's GBNF engine matches a literal "<|START_THINKING|>" by text, so a model could also
    spell it with ordinary tokens; named by id, only the special token the model was trained to
    emit is accepted. `candidates` finds marker-like substrings in literals; `special_token` says
    which are special tokens (and their ids).
    """
    def rewrite(match: "re.Match[str]") -> str:
        body = match.group(1)
        text = None if body is None else literal_text(body)
        pieces = None if text is None else special_pieces(text, candidates, special_token)
        if pieces is None:
            return match.group(0)
        return "(" + " ".join(f"<[{p}]>" if isinstance(p, int) else gbnf_literal(p) for p in pieces) + ")"

    return _GBNF_PIECE.sub(rewrite, gbnf)
