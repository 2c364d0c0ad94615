"""The generation loop: llama.cpp samples, Python keeps the guarantees.

Why not `Llama.create_completion`: it only adds non-lazy grammars, drops CONTROL tokens from the
text (so `[TOOL_CALLS]` / `<|python_tag|>` boundaries vanish) and cannot bias logits for a few
steps only. Here, per token:
- llama.cpp's sampler chain (logit bias, top-k, top-p, temperature) picks a token from the raw
  logits, as the model would without a grammar;
- Python checks the guarantees on that one token: an active grammar allows it (see
  constraint.py), it keeps the output valid UTF-8, and if it fires a lazy grammar's trigger, the
  grammar accepts the replayed text. Only when a check fails are the logits masked (grammar mask,
  UTF-8 classes, rejected tokens) and the token sampled again;
- a lazy grammar's trigger is found in Python with llama.cpp's semantics (triggers.TriggerWatch):
  from the token that fires it on, the grammar constrains the rest;
- text is detokenized with special=True and only complete UTF-8 characters are emitted; a stop
  string is never emitted, nor any part of it (a possible prefix is held back);
- the KV cache keeps the longest common prefix with the previous call's tokens.

When no token satisfies the checks (a grammar with no way on), generation ends with
finish_reason "no_token". An Engine is not thread-safe: one generation at a time.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

import llama_cpp
import numpy as np

from .constraint import Constraint, guidance_for
from .gbnf import GrammarError, validate_gbnf
from .progress import progress
from .triggers import Triggers, TriggerWatch
from .vocab import Vocab, get_vocab

_MAX_TRIES = 8  # resamples per token before giving up (each one bans the rejected token)
_NEG_INF = np.float32(-np.inf)


@dataclass
class GenEvent:
    """One step of generation: a sampled token and the text it completes.

    The last event has token None, the held-back text (if any) and finish_reason "stop",
    "length" or "no_token" (nothing the grammar allows could follow). A remote backend's event
    may carry several tokens (`n_tokens`).
    """

    token: Optional[int]
    text: str
    finish_reason: Optional[str] = None
    n_prompt_evaluated: int = 0
    n_prompt_reused: int = 0
    n_tokens: int = -1

    def __post_init__(self) -> None:
        if self.n_tokens < 0:
            self.n_tokens = 0 if self.token is None else 1


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


def default_threads() -> int:
    """$CHATFORMATS_THREADS, else every core (llama.cpp's OpenMP threads spin: on a machine whose
    cores are busy with other work, fewer threads decode faster)."""
    return int(os.environ.get("CHATFORMATS_THREADS") or 0) or os.cpu_count() or 1


class Engine:
    """A llama.cpp model plus the sampling loop (see the module docstring).

    A path loads the model with llama-server's defaults where llama-cpp-python differs: every
    core as a thread (llama-cpp-python takes half; $CHATFORMATS_THREADS overrides the default).
    Other keyword arguments go to `llama_cpp.Llama` (`n_gpu_layers`, `n_threads`, `n_batch`, ...).
    """

    def __init__(
        self,
        model: Union[str, Path, "llama_cpp.Llama"],
        *,
        n_ctx: int = 4096,
        verbose: bool = False,
        use_guidance: bool = True,
        **llama_kwargs: Any,
    ):
        if isinstance(model, (str, Path)):
            threads = llama_kwargs.pop("n_threads", None) or default_threads()
            llama_kwargs.setdefault("n_threads_batch", threads)
            if Path(model).stat().st_size > 32 << 20:
                progress(f"loading {Path(model).name}")
            model = llama_cpp.Llama(str(model), n_ctx=n_ctx, n_threads=threads, verbose=verbose, **llama_kwargs)
        self.llama: llama_cpp.Llama = model
        self.vocab: Vocab = get_vocab(model)
        self.n_vocab = self.vocab.n_vocab
        self.use_guidance = use_guidance
        self.n_prompt_evaluated = 0
        self.n_prompt_reused = 0
        self.masks = 0  # how often the last generation masked the logits (rejected samples)

    def warm_up(self) -> None:
        """Do the once-per-model work of the first constrained request now (vocabulary tables,
        the grammar engine's tokenizer)."""
        self.vocab.tables  # noqa: B018
        if self.use_guidance:
            guidance_for(self.vocab)

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
        logit_bias: Optional[Mapping[int, float]],
        temperature: float,
        top_k: int,
        top_p: float,
        seed: Optional[int],
    ) -> Any:
        """The chain [logit bias] top_k/top_p/temp/dist (or greedy): no grammar in it."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if logit_bias:
            entries = (llama_cpp.llama_logit_bias * len(logit_bias))(
                *[llama_cpp.llama_logit_bias(int(t), float(b)) for t, b in logit_bias.items()]
            )
            bias = llama_cpp.llama_sampler_init_logit_bias(self.n_vocab, len(logit_bias), entries)
            llama_cpp.llama_sampler_chain_add(chain, bias)
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
        return chain

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
        cancelled: Optional[Callable[[], bool]] = None,
    ) -> Iterator[GenEvent]:
        """Sample up to `max_tokens` tokens after `prompt_tokens`, one GenEvent per token.

        Grammar and trigger errors raise GrammarError here, before any evaluation. The prompt is
        evaluated on the first `next()`; `n_prompt_evaluated` / `n_prompt_reused` are then set on
        the engine and repeated on the final event. `cancelled()` is asked before each token:
        True ends the generation at once (no final event).
        """
        prompt = list(prompt_tokens)
        if not prompt:
            raise ValueError("empty prompt: at least one token is needed")
        n_ctx = self.llama.n_ctx()
        if len(prompt) >= n_ctx:
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context ({n_ctx})")
        session = _Session(self)
        session.ban([int(t) for t, b in (logit_bias or {}).items() if b == float("-inf")])
        if grammar:
            validate_gbnf(grammar, vocab=self.vocab)
            session.gbnf = grammar
            if lazy:
                triggers = Triggers.build(
                    self.vocab, trigger_words, trigger_tokens, trigger_patterns, trigger_patterns_full
                )
                if not triggers.patterns and not triggers.tokens:
                    raise GrammarError("a lazy grammar needs at least one trigger")
                session.watch = TriggerWatch(self.vocab, grammar, triggers)
            else:
                session.constraint = session.new_constraint()
        chain = self._build_chain(logit_bias, temperature, top_k, top_p, seed)
        return self._run(prompt, chain, bool(logit_bias), session, max_tokens, stop, bias_steps, n_ctx, cancelled)

    def _run(
        self,
        prompt: list[int],
        chain: Any,
        has_bias: bool,
        session: "_Session",
        max_tokens: int,
        stop: Iterable[str],
        bias_steps: Optional[int],
        n_ctx: int,
        cancelled: Optional[Callable[[], bool]],
    ) -> Iterator[GenEvent]:
        vocab = self.vocab
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        stops = _StopFilter(stop)
        reason = "length"
        try:
            self._load_prompt(prompt)
            for step in range(max_tokens):
                if cancelled is not None and cancelled():
                    return
                if has_bias and bias_steps is not None and step == bias_steps:
                    llama_cpp.llama_sampler_free(llama_cpp.llama_sampler_chain_remove(chain, 0))
                    has_bias = False
                    session.ban([])
                token = session.choose(chain)
                if token is None:
                    reason = "no_token"
                    break
                if vocab.is_eog(token):
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
            self.masks = session.masks
            llama_cpp.llama_sampler_free(chain)
            session.close()


class _Session:
    """The checks of one generation: UTF-8 state, the trigger watch, the active grammar."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.vocab = engine.vocab
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.gbnf: Optional[str] = None
        self.watch: Optional[TriggerWatch] = None
        self.constraint: Optional[Constraint] = None
        self.banned = frozenset()  # tokens the caller's logit bias rules out (-inf)
        self._banned_ids = np.zeros(0, dtype=np.int64)
        self.masks = 0

    def ban(self, tokens: list[int]) -> None:
        self.banned = frozenset(tokens)
        self._banned_ids = np.array(sorted(self.banned), dtype=np.int64)

    def new_constraint(self) -> Constraint:
        assert self.gbnf is not None
        guidance = guidance_for(self.vocab) if self.engine.use_guidance else None
        return Constraint(self.vocab, self.gbnf, guidance=guidance)

    def choose(self, chain: Any) -> Optional[int]:
        """Sample as the model would; when the token breaks a guarantee, mask and sample again."""
        ctx = self.engine.llama.ctx
        saved = self.utf8.getstate()
        rejected: list[int] = []
        for _ in range(_MAX_TRIES):
            token = llama_cpp.llama_sampler_sample(chain, ctx, -1)  # also accepts it into the chain
            fired = self._check(token, saved)
            if fired is not False:
                if self.constraint is not None:
                    self.constraint.accept(token)
                if self.watch is not None and self.watch.awaiting:
                    self.watch.commit(token)
                    if fired is not None:
                        self.constraint = fired
                return token
            rejected.append(token)
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(ctx, -1), shape=(self.engine.n_vocab,)
            )
            constraint = self.constraint
            if len(rejected) == 1 or (constraint is not None and constraint.matcher is not None):
                if len(rejected) > 1:  # llguidance's mask let through what llama.cpp rejects
                    constraint.matcher = None
                self.masks += len(rejected) == 1
                if constraint is not None:
                    constraint.mask(logits)
                np.copyto(logits, _NEG_INF, where=self.vocab.tables.utf8_forbidden(bool(saved[0])))
            logits[rejected] = _NEG_INF
            if self.banned:  # the chain's bias applies after this check: rule them out here too
                logits[self._banned_ids] = _NEG_INF
            if not np.isfinite(logits).any():
                return None
        return None

    def _check(self, token: int, saved: Any) -> Union[None, bool, Constraint]:
        """False when `token` breaks a guarantee; else the grammar it switches on (or None)."""
        if token in self.banned:  # sampled only when every candidate was ruled out
            return False
        if self.constraint is not None and not self.constraint.allows(token):
            return False
        try:
            self.utf8.decode(self.vocab.piece(token))
        except UnicodeDecodeError:
            self.utf8.setstate(saved)
            return False
        watch = self.watch
        if watch is None or not watch.awaiting:
            return None
        replay = watch.replay_for(token)
        if replay is None:
            return None
        fired = self.new_constraint()
        if fired.feed(self._replay_tokens(replay)):
            return fired
        fired.close()  # the trigger would fire into text the grammar rejects
        self.utf8.setstate(saved)
        return False

    def _replay_tokens(self, replay: list[tuple[int, bytes]]) -> list[int]:
        """The tokens the grammar sees when a trigger fires: a partial first piece is
        re-tokenized (llama.cpp replays the text from the trigger's start)."""
        tokens: list[int] = []
        for i, (token, piece) in enumerate(replay):
            if i == 0 and piece != self.vocab.piece(token):
                tokens += self.vocab.tokenize(piece, special=True)
            else:
                tokens.append(token)
        return tokens

    def close(self) -> None:
        if self.constraint is not None:
            self.constraint.close()
            self.constraint = None
        if self.watch is not None:
            self.watch.close()
