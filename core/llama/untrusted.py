"""Which texts client text must not be able to forge: the vocabulary's control tokens, and its
user-defined tokens that serve as markers (llama.cpp matches those even without special-token
parsing). Client text is protected before rendering with these (`chatformats.prompt.protect`)."""

from __future__ import annotations

import re
import weakref
from typing import Any, Iterable

import llama_cpp

# How special tokens are spelled: <|...|>, <｜...｜>, [UPPER_CASE] always mean a marker; <word> and
# </word> only when the chat template or the format uses them (Gemma 3's user-defined tokens
# include HTML tags, which client text may hold as plain text)
MARKER_STYLE = re.compile(r"<[|｜][^<>\s]{1,60}?[|｜]>|\[/?[A-Z][A-Z_]{1,30}\]")
TAG_STYLE = re.compile(r"</?[A-Za-z_][\w.-]{0,40}>")

_scanned: "weakref.WeakKeyDictionary[Any, tuple[frozenset[str], frozenset[str]]]" = weakref.WeakKeyDictionary()


def _scan(llama) -> tuple[frozenset[str], frozenset[str]]:
    """(control token texts, marker-looking user-defined token texts), once per model."""
    found = _scanned.get(llama)
    if found is None:
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        control, user = set(), set()
        for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
            attr = llama_cpp.llama_vocab_get_attr(vocab, token)
            if not attr & (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED):
                continue
            raw = llama_cpp.llama_vocab_get_text(vocab, token)
            text = raw.decode("utf-8", errors="replace") if raw else ""
            if not text:
                continue
            if attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
                control.add(text)
            elif MARKER_STYLE.fullmatch(text) or TAG_STYLE.fullmatch(text):
                user.add(text)
        found = _scanned[llama] = (frozenset(control), frozenset(user))
    return found


def control_texts(llama, mentioned: Iterable[str] = ()) -> frozenset[str]:
    """Texts of the model's control tokens, and of its user-defined marker tokens: those spelled
    like special tokens, and <tag>s that occur in `mentioned` (chat templates, a format's
    markers; Qwen's <tool_call> and <think> are user-defined in its GGUFs)."""
    control, user = _scan(llama)
    text = "\n".join(mentioned)
    return control | {t for t in user if MARKER_STYLE.fullmatch(t) or t in text}
