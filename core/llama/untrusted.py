"""Which texts client text must not be able to forge: the vocabulary's control tokens, and its
user-defined tokens that read like markers (llama.cpp matches those even without special-token
parsing). Client text is protected before rendering with these (`chatformats.prompt.protect`)."""

from __future__ import annotations

import re

import llama_cpp

# <|...|>, <｜...｜>, <...>, </...>, [UPPER_CASE], [/UPPER_CASE]: how chat templates spell markers
MARKER_LIKE = re.compile(r"<[|｜][^<>\s]{1,60}?[|｜]>|</?[A-Za-z_][\w.-]{0,40}>|\[/?[A-Z][A-Z_]{1,30}\]")


def control_texts(llama) -> frozenset[str]:
    """Texts of the model's control tokens, and of its user-defined tokens that look like markers
    (Qwen's <tool_call> and <think> are user-defined in its GGUFs)."""
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    texts = set()
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        attr = llama_cpp.llama_vocab_get_attr(vocab, token)
        if not attr & (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED):
            continue
        raw = llama_cpp.llama_vocab_get_text(vocab, token)
        text = raw.decode("utf-8", errors="replace") if raw else ""
        if text and (attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL or MARKER_LIKE.fullmatch(text)):
            texts.add(text)
    return frozenset(texts)
