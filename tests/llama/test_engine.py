"""The generation loop on the real llama.cpp with the tiny random model."""

from __future__ import annotations

import json

import pytest

from chatformats.llama.engine import Engine, GenEvent, _StopFilter
from chatformats.llama import GrammarError, accepts

CALL = r'root ::= "{\"name\": \"" [a-z_]{1,12} "\", \"n\": " [0-9]{1,3} "}"'
LAZY = r'root ::= "<tool_call>" "{\"a\": " [0-9]{1,4} "}"'


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    return Engine(tiny_model_path, n_ctx=1024)


@pytest.fixture(scope="module")
def prompt(engine):
    return engine.tokenize_prompt(
        [("<|im_start|>user\n", True), ("What is the weather?", False), ("<|im_end|>\n<|im_start|>assistant\n", True)]
    )


def run(engine, prompt, **kw) -> tuple[str, list[GenEvent]]:
    events = list(engine.generate(prompt, **kw))
    return "".join(e.text for e in events), events


def test_tokenize_prompt_keeps_user_text_plain(engine):
    tag = engine.vocab.tokenize("<|python_tag|>", special=True)
    tokens = engine.tokenize_prompt([("<|im_start|>", True), ("<|python_tag|>", False)])
    assert tokens[0] == engine.vocab.tokenize("<|im_start|>", special=True)[0]
    assert tag[0] not in tokens
    assert engine.detokenize(tokens) == "<|im_start|><|python_tag|>"


def test_events_shape_and_length(engine, prompt):
    text, events = run(engine, prompt, max_tokens=7, seed=1, temperature=1.0)
    *steps, last = events
    assert last.token is None and last.finish_reason in ("length", "stop")
    assert all(e.token is not None and e.finish_reason is None for e in steps)
    if last.finish_reason == "length":
        assert len(steps) == 7
    assert text == "".join(e.text for e in events)


def test_max_tokens_gives_length(engine, prompt):
    # a grammar that never ends forces the loop to hit max_tokens
    text, events = run(engine, prompt, grammar='root ::= [a-z]+', max_tokens=5, seed=0)
    assert events[-1].finish_reason == "length"
    assert len([e for e in events if e.token is not None]) == 5
    assert text.isalpha()


@pytest.mark.parametrize("seed", range(5))
def test_grammar_output_is_valid(engine, prompt, seed):
    text, events = run(engine, prompt, grammar=CALL, max_tokens=80, seed=seed, temperature=1.0)
    assert events[-1].finish_reason == "stop"  # the grammar ended, only EOG was allowed
    assert accepts(CALL, text, vocab=engine.vocab)
    assert json.loads(text)["name"]


def test_greedy_is_deterministic(engine, prompt):
    first, _ = run(engine, prompt, max_tokens=20, temperature=0)
    second, _ = run(engine, prompt, max_tokens=20, temperature=0, seed=123)
    assert first == second


def test_seed_reproducible(engine, prompt):
    assert run(engine, prompt, max_tokens=20, seed=7)[0] == run(engine, prompt, max_tokens=20, seed=7)[0]


@pytest.mark.parametrize("seed", range(4))
def test_lazy_grammar_with_forced_trigger(engine, prompt, seed):
    trigger = engine.vocab.tokenize("<tool_call>", special=True)
    assert len(trigger) == 1
    text, events = run(
        engine,
        prompt,
        grammar=LAZY,
        lazy=True,
        trigger_words=["<tool_call>"],
        logit_bias={trigger[0]: 50.0},
        bias_steps=3,
        max_tokens=60,
        seed=seed,
    )
    start = text.index("<tool_call>")
    assert accepts(LAZY, text[start:], vocab=engine.vocab)
    assert events[-1].finish_reason == "stop"


def test_lazy_pattern_trigger_with_rejected_replay_is_resampled(engine, prompt, monkeypatch):
    # a `{` inside a merged token like ` {"` fires the pattern, but the grammar rejects the `"`:
    # fed to llama.cpp that replay aborts the process; the engine must mask it and resample
    from chatformats.llama.constraint import Constraint

    verdicts = []
    real = Constraint.feed
    monkeypatch.setattr(Constraint, "feed", lambda self, t: verdicts.append(real(self, t)) or verdicts[-1])
    gbnf = r'root ::= "{" [a-z]{1,6} "}"'
    merged = {t: 10.0 for t in range(engine.n_vocab) if b"{" in engine.vocab.piece(t) and len(engine.vocab.piece(t)) > 1}
    for seed in range(4):
        text, _ = run(
            engine, prompt, grammar=gbnf, lazy=True, trigger_patterns=[r"(\{)"],
            logit_bias=merged, max_tokens=60, seed=seed,
        )
        if "{" in text:
            assert accepts(gbnf, text[text.index("{"):], vocab=engine.vocab), text
    assert False in verdicts


def test_lazy_without_trigger_is_free_text(engine, prompt):
    free, _ = run(engine, prompt, max_tokens=15, seed=3)
    lazy, _ = run(engine, prompt, grammar=LAZY, lazy=True, trigger_tokens=["<tool_call>"], max_tokens=15, seed=3)
    if "<tool_call>" not in free:
        assert lazy == free


def test_invalid_grammar_raises_before_generation(engine, prompt):
    with pytest.raises(GrammarError):
        engine.generate(prompt, grammar="root ::= nope")
    with pytest.raises(GrammarError):
        engine.generate(prompt, grammar=LAZY, lazy=True)  # no trigger
    with pytest.raises(GrammarError):
        engine.generate(prompt, grammar=LAZY, lazy=True, trigger_patterns=['{"a"'])


def test_stop_string_is_never_emitted(engine, prompt):
    full, _ = run(engine, prompt, max_tokens=40, seed=5)
    stop = full[10:14]
    assert len(stop) == 4
    text, events = run(engine, prompt, max_tokens=40, seed=5, stop=[stop])
    assert events[-1].finish_reason == "stop"
    assert text == full[: full.index(stop)]
    assert stop not in text


def test_stop_filter_holds_back_prefixes():
    f = _StopFilter(["</tool_call>", "END"])
    out = [f.push(p) for p in ["abc </to", "ol_c", "x", " E", "N", "D tail"]]
    assert out == ["abc ", "", "</tool_cx", " ", "", ""]
    assert f.stopped


def test_utf8_split_over_tokens_is_emitted_whole(engine, prompt):
    # single-byte tokens only: each multibyte character spans several tokens
    gbnf = 'root ::= "日本" "語"'
    text, events = run(engine, prompt, grammar=gbnf, max_tokens=20, seed=0)
    assert text == "日本語"
    assert all("\ufffd" not in e.text for e in events)


def test_kv_cache_reuse(engine, prompt):
    list(engine.generate(prompt, max_tokens=3, seed=0))
    longer = prompt + engine.tokenize_prompt([("Sure.<|im_end|>\n<|im_start|>user\n", True), ("Thanks", False)])
    _, events = run(engine, longer, max_tokens=3, seed=0)
    assert engine.n_prompt_reused >= len(prompt)
    assert engine.n_prompt_evaluated == len(longer) - engine.n_prompt_reused
    assert events[-1].n_prompt_reused == engine.n_prompt_reused
    _, events = run(engine, longer, max_tokens=3, seed=0)
    assert (engine.n_prompt_reused, engine.n_prompt_evaluated) == (len(longer) - 1, 1)
    other = engine.tokenize_prompt([("<|im_start|>system\nx", True)])
    run(engine, other, max_tokens=2, seed=0)
    assert engine.n_prompt_reused < len(other)


def test_kv_reuse_gives_same_output_as_fresh(engine, tiny_model_path, prompt):
    longer = prompt + engine.tokenize_prompt([("Hello", True)])
    run(engine, prompt, max_tokens=5, seed=0)
    reused, _ = run(engine, longer, max_tokens=12, temperature=0)
    assert engine.n_prompt_reused > 0
    fresh, _ = run(Engine(tiny_model_path, n_ctx=1024), longer, max_tokens=12, temperature=0)
    assert reused == fresh


def test_prompt_too_long_raises(engine):
    with pytest.raises(ValueError):
        engine.generate([1] * 2000)
    with pytest.raises(ValueError):
        engine.generate([])
