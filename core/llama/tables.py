"""Per-vocabulary facts the sampling loop needs, found in one pass over the vocabulary (once).

- which tokens cannot come next in valid UTF-8 (outside a character: those starting with a
  continuation or invalid byte; inside one: those not starting with a continuation byte);
- every end-of-generation token (a grammar engine must allow all of them where it may end);
- the texts of special tokens (control tokens, and user-defined ones written like markers), which
  a grammar literal may match as one token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import llama_cpp
import numpy as np

from .progress import progress

if TYPE_CHECKING:
    from .vocab import Vocab


class VocabTables:
    def __init__(self, vocab: "Vocab") -> None:
        started = time.perf_counter()
        n = vocab.n_vocab
        if n > 100_000:
            progress(f"reading the {n:,}-token vocabulary (once per model)")
        first = np.full(n, -1, dtype=np.int16)
        eog: list[int] = []
        specials: dict[str, int] = {}
        control = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
        user_defined = llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        for token in range(n):
            piece = vocab.piece(token)
            if piece:
                first[token] = piece[0]
            if vocab.is_eog(token):
                eog.append(token)
            attr = llama_cpp.llama_vocab_get_attr(vocab.ptr, token)
            if piece and (
                attr & control or (attr & user_defined and piece[:1] == b"<" and piece[-1:] == b">")
            ):
                specials.setdefault(piece.decode("utf-8", "replace"), token)
        continuation = (first >= 0x80) & (first <= 0xBF)
        self.bad_start: np.ndarray = continuation | (first == 0xC0) | (first == 0xC1) | (first >= 0xF5)
        self.not_continuation: np.ndarray = ~continuation
        self.eog: list[int] = eog
        self.specials: dict[str, int] = specials
        self.seconds = time.perf_counter() - started

    def utf8_forbidden(self, mid_character: bool) -> np.ndarray:
        """Boolean mask of the tokens that cannot come next."""
        return self.not_continuation if mid_character else self.bad_start
