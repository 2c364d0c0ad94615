"""The low-level generation loop: llama.cpp sampler chain built by hand, lazy grammars, KV reuse.

Why not `Llama.create_completion`: it only adds non-lazy grammars, drops CONTROL tokens from the
text (so `[TOOL_CALLS]` / `<|python_tag|>` boundaries vanish) and cannot bias logits for a few
steps only. Here:
- text is detokenized with special=True and only complete UTF-8 characters are emitted;
- a stop string is never emitted, nor any part of it (a possible prefix is held back);
- a grammar token is only accepted after the grammar left its logit finite, and a lazy grammar's
  trigger is emulated in Python (triggers.TriggerWatch) so that a replay the grammar would
  reject (a C++ throw, i.e. abort) is never fed to it: that token is masked and resampled;
- the KV cache keeps the longest common prefix with the previous call's tokens.

An Engine is not thread-safe: one generation at a time.
"""

from __future__ import annotations

import codecs
import ctypes
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import llama_cpp
import numpy as np

from .gbnf import GrammarError, validate_gbnf
from .triggers import Triggers, TriggerWatch
from .vocab import Vocab, get_vocab

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
_MAX_RESAMPLES = 16


@dataclass
class GenEvent:
    """One step of generation: a sampled token and the text it completes.

    The last event has token None, the held-back text (if any) and finish_reason "stop"|"length".
    """

    token: Optional[int]
    text: str
    finish_reason: Optional[str] = None
    n_prompt_evaluated: int = 0
    n_prompt_reused: int = 0


class _StopFilter:
    """Holds back text that may be the start of a stop string; reports a completed stop."""

    def __init__(self, stops: Iterable[str]):
        self.stops = [s for s in dict.fromkeys(stops) if s]
        self.held = ""
        self.stopped = False

    def push(self, text: str) -> str:
        """Text safe to emit now; sets `stopped` (and drops the rest) when a stop string appears."""
        if not self.stops:
            return text
        pending = self.held + text
        cut = min((i for i in (pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.held, self.stopped = "", True
            return pending[:cut]
        keep = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(pending)), keep, -1):
                if pending.endswith(stop[:n]):
                    keep = n
                    break
        self.held = pending[len(pending) - keep :] if keep else ""
        return pending[: len(pending) - keep]

    def flush(self) -> str:
        text, self.held = self.held, ""
        return text


class Engine:
    """A llama.cpp model plus the sampling loop (see the module docstring)."""

    def __init__(
        self,
        model: Union[str, Path, "llama_cpp.Llama"],
        *,
        n_ctx: int = 4096,
        verbose: bool = False,
        **llama_kwargs: Any,
    ):
        if isinstance(model, (str, Path)):
            model = llama_cpp.Llama(str(model), n_ctx=n_ctx, verbose=verbose, **llama_kwargs)
        self.llama: llama_cpp.Llama = model
        self.vocab: Vocab = get_vocab(model)
        self.n_vocab = self.vocab.n_vocab
        self.n_prompt_evaluated = 0
        self.n_prompt_reused = 0
        self._candidates = np.zeros(self.n_vocab, dtype=_TOKEN_DATA)
        self._candidates["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self._array = llama_cpp.llama_token_data_array(
            data=self._candidates.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=self.n_vocab,
            selected=-1,
            sorted=False,
        )
        self._utf8_masks: Optional[tuple[np.ndarray, np.ndarray]] = None

    def _utf8_mask(self, mid_character: bool) -> np.ndarray:
        """Tokens that cannot come next in valid UTF-8: outside a character, those starting with a
        continuation or invalid byte; inside one, those not starting with a continuation byte."""
        if self._utf8_masks is None:
            bad_start, not_continuation = [], []
            for token in range(self.n_vocab):
                piece = self.vocab.piece(token)
                first = piece[0] if piece else None
                continuation = first is not None and 0x80 <= first <= 0xBF
                if continuation or (first is not None and (first in (0xC0, 0xC1) or first >= 0xF5)):
                    bad_start.append(token)
                if not continuation:
                    not_continuation.append(token)
            self._utf8_masks = (np.array(bad_start, dtype=np.int64), np.array(not_continuation, dtype=np.int64))
        return self._utf8_masks[1] if mid_character else self._utf8_masks[0]

    # -- tokens -----------------------------------------------------------------------------

    def tokenize_prompt(self, parts: Sequence[tuple[str, bool]]) -> list[int]:
        """Tokens of a prompt given as (text, parse_special) parts.

        Template text is tokenized with special tokens; user-supplied text with parse_special
        False, so a user writing "<|python_tag|>" gets plain text tokens, not the control token.
        """
        tokens: list[int] = []
        for text, parse_special in parts:
            tokens += self.vocab.tokenize(text, special=parse_special)
        return tokens

    def detokenize(self, tokens: Iterable[int]) -> str:
        """Text of tokens, special tokens included."""
        return b"".join(self.vocab.piece(t) for t in tokens).decode("utf-8", "replace")

    # -- prompt / KV cache ------------------------------------------------------------------

    def _load_prompt(self, prompt: Sequence[int]) -> None:
        """Evaluate `prompt`, reusing the KV cache's longest common prefix with it."""
        llama = self.llama
        n_cached = llama.n_tokens
        # always re-evaluate the last prompt token: its logits are what we sample from
        limit = min(n_cached, len(prompt) - 1)
        common = 0
        if limit > 0:
            diff = np.flatnonzero(llama.input_ids[:limit] != np.asarray(prompt[:limit]))
            common = int(diff[0]) if diff.size else limit
        if common < n_cached:
            memory = llama_cpp.llama_get_memory(llama.ctx)
            if not llama_cpp.llama_memory_seq_rm(memory, -1, common, -1):
                llama_cpp.llama_memory_clear(memory, True)  # e.g. recurrent state: start over
                common = 0
        llama.n_tokens = common
        llama.eval(list(prompt[common:]))
        self.n_prompt_reused = common
        self.n_prompt_evaluated = len(prompt) - common

    # -- sampler chain ----------------------------------------------------------------------

    def _build_chain(
        self,
        grammar_sampler: Any,
        logit_bias: Optional[Mapping[int, float]],
        temperature: float,
        top_k: int,
        top_p: float,
        seed: Optional[int],
    ) -> tuple[Any, bool]:
        """The chain [logit bias] [grammar] top_k/top_p/temp/dist (or greedy); (chain, has_bias)."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        has_bias = bool(logit_bias)
        if has_bias:
            entries = (llama_cpp.llama_logit_bias * len(logit_bias))(
                *[llama_cpp.llama_logit_bias(int(t), float(b)) for t, b in logit_bias.items()]
            )
            bias = llama_cpp.llama_sampler_init_logit_bias(self.n_vocab, len(logit_bias), entries)
            llama_cpp.llama_sampler_chain_add(chain, bias)
        if grammar_sampler is not None:
            llama_cpp.llama_sampler_chain_add(chain, grammar_sampler)
        if temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            if top_k > 0:
                llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(top_k))
            if 0 < top_p < 1:
                llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(top_p, 1))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temperature))
            seed_value = llama_cpp.LLAMA_DEFAULT_SEED if seed is None else seed & 0xFFFFFFFF
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed_value))
        return chain, has_bias

    def _sample(self, chain: Any, banned: set[int], masked: Optional[np.ndarray] = None) -> Optional[int]:
        """Apply the chain to the last logits; None when every candidate is ruled out."""
        logits = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
        cand = self._candidates
        cand["id"] = np.arange(self.n_vocab, dtype=np.int32)  # samplers sort in place
        cand["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        cand["p"] = 0.0
        if masked is not None and masked.size:
            cand["logit"][masked] = -np.inf
        for token in banned:
            cand["logit"][token] = -np.inf
        array = self._array
        array.data = cand.ctypes.data_as(llama_cpp.llama_token_data_p)
        array.size, array.selected, array.sorted = self.n_vocab, -1, False
        llama_cpp.llama_sampler_apply(chain, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            return None
        chosen = array.data[array.selected]
        if math.isinf(chosen.logit) or chosen.id in banned:
            return None  # the grammar ruled out everything: accepting would throw in C++
        return int(chosen.id)

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        prompt_tokens: Sequence[int],
        *,
        grammar: Optional[str] = None,
        lazy: bool = False,
        trigger_words: Iterable[str] = (),
        trigger_tokens: Iterable[Union[str, int]] = (),
        trigger_patterns: Iterable[str] = (),
        trigger_patterns_full: Iterable[str] = (),
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        seed: Optional[int] = None,
        stop: Iterable[str] = (),
        logit_bias: Optional[Mapping[int, float]] = None,
        bias_steps: Optional[int] = None,
    ) -> Iterator[GenEvent]:
        """Sample up to `max_tokens` tokens after `prompt_tokens`, one GenEvent per token.

        Grammar and trigger errors raise GrammarError here, before any evaluation. The prompt is
        evaluated on the first `next()`; `n_prompt_evaluated` / `n_prompt_reused` are then set on
        the engine and repeated on the final event.
        """
        prompt = list(prompt_tokens)
        if not prompt:
            raise ValueError("empty prompt: at least one token is needed")
        n_ctx = self.llama.n_ctx()
        if len(prompt) >= n_ctx:
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context ({n_ctx})")
        watch = None
        grammar_sampler = None
        if grammar:
            validate_gbnf(grammar, vocab=self.vocab)
            if lazy:
                triggers = Triggers.build(
                    self.vocab, trigger_words, trigger_tokens, trigger_patterns, trigger_patterns_full
                )
                if not triggers.patterns and not triggers.tokens:
                    raise GrammarError("a lazy grammar needs at least one trigger")
                grammar_sampler = triggers.lazy_sampler(self.vocab, grammar)
                watch = TriggerWatch(self.vocab, grammar, triggers)
            else:
                grammar_sampler = llama_cpp.llama_sampler_init_grammar(
                    self.vocab.ptr, grammar.encode("utf-8"), b"root"
                )
            if not grammar_sampler:
                raise GrammarError("llama.cpp could not build the grammar sampler")
        chain, has_bias = self._build_chain(grammar_sampler, logit_bias, temperature, top_k, top_p, seed)
        return self._run(prompt, chain, has_bias, watch, max_tokens, stop, bias_steps, n_ctx)

    def _run(
        self,
        prompt: list[int],
        chain: Any,
        has_bias: bool,
        watch: Optional[TriggerWatch],
        max_tokens: int,
        stop: Iterable[str],
        bias_steps: Optional[int],
        n_ctx: int,
    ) -> Iterator[GenEvent]:
        vocab = self.vocab
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        stops = _StopFilter(stop)
        reason = "length"
        try:
            self._load_prompt(prompt)
            for step in range(max_tokens):
                if has_bias and bias_steps is not None and step == bias_steps:
                    llama_cpp.llama_sampler_free(llama_cpp.llama_sampler_chain_remove(chain, 0))
                    has_bias = False
                token = self._choose(chain, watch, utf8)
                if token is None or vocab.is_eog(token):
                    reason = "stop"
                    break
                text = stops.push(decoder.decode(vocab.piece(token)))
                yield GenEvent(token, text)
                if stops.stopped:
                    reason = "stop"
                    break
                if self.llama.n_tokens >= n_ctx:
                    break  # context full: "length"
                self.llama.eval([token])
            tail = "" if stops.stopped else stops.push(decoder.decode(b"", final=True)) + stops.flush()
            if stops.stopped:
                reason = "stop"
            yield GenEvent(None, tail, reason, self.n_prompt_evaluated, self.n_prompt_reused)
        finally:
            llama_cpp.llama_sampler_free(chain)
            if watch is not None:
                watch.close()

    def _choose(self, chain: Any, watch: Optional[TriggerWatch], utf8: Any) -> Optional[int]:
        """Sample a token and accept it into the chain, keeping a lazy grammar's replay safe.

        A byte token that would make the output invalid UTF-8 is masked and resampled: llama.cpp's
        grammar reads a stray byte as a code point, so it could pass a schema's maxLength and then
        come out as several replacement characters.
        """
        banned: set[int] = set()
        state = utf8.getstate()
        masked = self._utf8_mask(mid_character=bool(state[0]))
        for _ in range(_MAX_RESAMPLES):
            token = self._sample(chain, banned, masked)
            if token is None:
                return None
            try:
                utf8.decode(self.vocab.piece(token))
            except UnicodeDecodeError:
                utf8.setstate(state)
                banned.add(token)
                continue
            if watch is not None and watch.awaiting:
                replay = watch.replay_for(token)
                if replay is not None and not watch.replay_ok(replay):
                    utf8.setstate(state)
                    banned.add(token)  # the trigger would fire into text the grammar rejects
                    continue
                watch.commit(token)
            llama_cpp.llama_sampler_accept(chain, token)
            return token
        return None
