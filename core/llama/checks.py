"""Acceptance checks: would llama.cpp's grammar engine produce this text (for tests, `formats
check` and the oracle; pass the vocabulary of the model the text is for)."""

from __future__ import annotations

from typing import Any, Iterable, Optional, Union

import llama_cpp

from .gbnf import GrammarError, OneCandidate, feed_tokens, new_grammar, validate_gbnf
from .triggers import Triggers, TriggerWatch
from .vocab import VocabLike, get_vocab


def accepts(gbnf: str, text: str, *, complete: bool = True, vocab: VocabLike = None) -> bool:
    """Whether llama.cpp's grammar engine accepts `text` (tokenized with special tokens).

    With complete=True the grammar must also allow an end-of-generation token after the text.
    Raises GrammarError when the grammar itself is invalid.
    """
    voc = get_vocab(vocab)
    validate_gbnf(gbnf, vocab=voc)
    sampler = new_grammar(voc, gbnf)
    try:
        probe = OneCandidate()
        if not feed_tokens(sampler, voc.tokenize(text, special=True), probe):
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
        probe = OneCandidate()
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

