"""The tool-call grammar while sampling: llguidance masks, llama.cpp has the last word.

The engine does not run a grammar over the whole vocabulary at every token (llama.cpp's GBNF
engine takes 25-60 ms per token at 128k-262k vocabularies). It samples as the model would without
a grammar and checks only the chosen token (llama.cpp's common sampler does the same); only when
that token is rejected are the logits masked and the token resampled. The mask comes from
llguidance (tens of microseconds for a whole vocabulary), run on a Lark translation of the same
GBNF; llama.cpp's own GBNF engine checks every token before it is accepted, so the output always
matches the GBNF even where the two engines could disagree. Where llguidance cannot take a
grammar (or falls out of step), llama.cpp masks the vocabulary itself: slower, never wrong.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import warnings
from typing import Any, Optional, Sequence

import llama_cpp
import numpy as np

from .gbnf import OneCandidate, new_grammar
from .progress import progress
from .vocab import Vocab

log = logging.getLogger(__name__)

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
_NEG_INF = np.float32(-np.inf)


class Guidance:
    """llguidance's tokenizer for one vocabulary, and the Lark form of each grammar (cached)."""

    def __init__(self, vocab: Vocab) -> None:
        import llguidance.llamacpp

        tables = vocab.tables
        if vocab.n_vocab > 100_000:
            progress(f"building the grammar engine's tokenizer for {vocab.n_vocab:,} tokens (once per model)")
        with warnings.catch_warnings():  # it calls llama_token_get_attr, deprecated in llama-cpp-python
            warnings.simplefilter("ignore", DeprecationWarning)
            self.tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(vocab.ptr, eos_token=tables.eog or None)
        self.specials = tables.specials
        self._lark: dict[str, Optional[str]] = {}
        self._lock = threading.Lock()

    def lark(self, gbnf: str) -> Optional[str]:
        """The Lark form of `gbnf`, or None when llguidance's translator cannot read it."""
        with self._lock:
            if gbnf in self._lark:
                return self._lark[gbnf]
        from .lark import gbnf_to_lark

        try:
            lark: Optional[str] = gbnf_to_lark(gbnf, self.specials)
        except Exception as exc:  # e.g. a plugin's GBNF with token references
            log.info("llguidance cannot read this grammar (%s): llama.cpp masks instead", exc)
            lark = None
        with self._lock:
            if len(self._lark) >= 256:
                self._lark.pop(next(iter(self._lark)))
            self._lark[gbnf] = lark
        return lark

    def matcher(self, gbnf: str) -> Any:
        """A fresh llguidance matcher for `gbnf`, or None."""
        import llguidance

        lark = self.lark(gbnf)
        if lark is None:
            return None
        matcher = llguidance.LLMatcher(self.tokenizer, lark, log_level=0)
        if matcher.is_error():
            log.info("llguidance rejects this grammar (%s): llama.cpp masks instead", matcher.get_error())
            return None
        return matcher


_GUIDANCE: dict[int, tuple[Vocab, Optional[Guidance]]] = {}
_GUIDANCE_LOCK = threading.Lock()


def guidance_for(vocab: Vocab) -> Optional[Guidance]:
    """The vocabulary's Guidance (built once), or None without llguidance."""
    with _GUIDANCE_LOCK:
        hit = _GUIDANCE.get(id(vocab))
        if hit is not None and hit[0] is vocab:
            return hit[1]
        try:
            guidance: Optional[Guidance] = Guidance(vocab)
        except ImportError:
            guidance = None
        _GUIDANCE[id(vocab)] = (vocab, guidance)
        return guidance


class Constraint:
    """One grammar, active during one generation: check a token, mask the logits, accept."""

    def __init__(self, vocab: Vocab, gbnf: str, *, guidance: Optional[Guidance] = None) -> None:
        self.vocab = vocab
        self.sampler = new_grammar(vocab, gbnf)  # the caller validated gbnf
        self._probe = OneCandidate()
        self.matcher = guidance.matcher(gbnf) if guidance is not None else None
        self._bitmask: Optional[np.ndarray] = None
        self.masks = 0  # how often the logits had to be masked

    def allows(self, token: int) -> bool:
        if self.matcher is not None and self.matcher.validate_tokens([token]) != 1:
            return False
        return self._probe.allowed(self.sampler, token)

    def accept(self, token: int) -> None:
        """Advance both engines past `token` (one `allows` passed)."""
        llama_cpp.llama_sampler_accept(self.sampler, token)
        if self.matcher is not None and not self.matcher.consume_token(token):
            log.info("llguidance fell out of step with llama.cpp: llama.cpp masks from here on")
            self.matcher = None

    def feed(self, tokens: Sequence[int]) -> bool:
        """Accept tokens while they are allowed (a trigger's replay); False at the first that is not."""
        for token in tokens:
            if not self.allows(token):
                return False
            self.accept(token)
        return True

    def mask(self, logits: np.ndarray) -> None:
        """Set the logits of the tokens the grammar does not allow next to -inf, in place."""
        self.masks += 1
        if self.matcher is not None:
            import llguidance.numpy

            if self._bitmask is None:
                self._bitmask = llguidance.numpy.allocate_token_bitmask(1, logits.shape[0])
            llguidance.numpy.fill_next_token_bitmask(self.matcher, self._bitmask)
            allowed = np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")
            np.copyto(logits, _NEG_INF, where=~allowed[: logits.shape[0]].view(bool))
            return
        candidates = np.empty(logits.shape[0], dtype=_TOKEN_DATA)
        candidates["id"] = np.arange(logits.shape[0], dtype=np.int32)
        candidates["logit"] = logits
        candidates["p"] = 0.0
        array = llama_cpp.llama_token_data_array(
            data=candidates.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=logits.shape[0],
            selected=-1,
            sorted=False,
        )
        llama_cpp.llama_sampler_apply(self.sampler, ctypes.byref(array))
        np.copyto(logits, candidates["logit"])  # the grammar sampler writes -inf in place, no reorder

    def close(self) -> None:
        if self.sampler is not None:
            llama_cpp.llama_sampler_free(self.sampler)
            self.sampler = None
        self.matcher = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass
