"""The tiny model's tokenizer on the real llama.cpp: special tokens, UTF-8, EOG markers."""

from __future__ import annotations

import time

import llama_cpp
import pytest

from chatformats.testing.tiny_model import (
    BOS_TOKEN,
    EOG_TOKENS,
    EOM_TOKEN,
    EOS_TOKEN,
    EOT_TOKEN,
    build_tiny_model,
    ensure_tiny_model,
    registered_control_tokens,
)

SPECIAL_TOKENS = tuple(dict.fromkeys((BOS_TOKEN, EOS_TOKEN, EOT_TOKEN, EOM_TOKEN, *registered_control_tokens())))


@pytest.fixture(scope="module")
def llm(tiny_model_path):
    return llama_cpp.Llama(str(tiny_model_path), n_ctx=256, verbose=False)


def test_every_special_token_is_one_control_token(llm):
    seen = set()
    for text in SPECIAL_TOKENS:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        assert len(ids) == 1, (text, ids)
        assert llm.detokenize(ids, special=True) == text.encode()
        attr = llama_cpp.llama_vocab_get_attr(llm._model.vocab, ids[0])
        assert attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL, text
        seen.add(ids[0])
    assert len(seen) == len(SPECIAL_TOKENS)


@pytest.mark.parametrize(
    "text",
    ["hello world", "  leading spaces\n\ttabs", "Ünïcödé — 日本語 🙂 😀👍🏽", '{"name": "get_weather"}', "a\x00b\x7f"],
)
def test_text_round_trips(llm, text):
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    assert llm.detokenize(ids, special=True).decode() == text


def test_merges_make_multibyte_tokens(llm):
    text = '{"name": "get_weather", "arguments": {"location": "Paris"}}'
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    assert len(ids) < len(text.encode()) / 2


def test_user_text_cannot_forge_a_control_token(llm):
    tag = llm.tokenize(b"<|python_tag|>", add_bos=False, special=True)
    as_user = llm.tokenize(b"<|python_tag|>", add_bos=False, special=False)
    assert len(tag) == 1
    assert tag[0] not in as_user
    assert llm.detokenize(as_user, special=True) == b"<|python_tag|>"


def test_end_of_turn_markers_are_eog(llm):
    vocab = llm._model.vocab
    for text in EOG_TOKENS:
        (token,) = llm.tokenize(text.encode(), add_bos=False, special=True)
        assert llama_cpp.llama_vocab_is_eog(vocab, token), text
    for text in ("<|python_tag|>", "<tool_call>", "[TOOL_CALLS]", "<|im_start|>"):
        (token,) = llm.tokenize(text.encode(), add_bos=False, special=True)
        assert not llama_cpp.llama_vocab_is_eog(vocab, token), text


def test_bos_eos_ids(llm):
    assert llm.detokenize([llm.token_bos()], special=True) == b"<|begin_of_text|>"
    assert llm.detokenize([llm.token_eos()], special=True) == b"<|end_of_text|>"


def test_build_is_fast_and_deterministic(tmp_path):
    start = time.perf_counter()
    a = build_tiny_model(tmp_path / "a.gguf", chat_template="{{ messages }}")
    elapsed = time.perf_counter() - start
    b = build_tiny_model(tmp_path / "b.gguf", chat_template="{{ messages }}")
    assert a.read_bytes() == b.read_bytes()
    assert elapsed < 1.0
    c = build_tiny_model(tmp_path / "c.gguf", seed=1)
    assert c.read_bytes() != a.read_bytes()


def test_chat_template_is_embedded(tmp_path):
    template = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"
    path = build_tiny_model(tmp_path / "t.gguf", chat_template=template)
    llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    assert llm.metadata["tokenizer.chat_template"] == template


def test_extra_special_tokens(tmp_path):
    path = build_tiny_model(tmp_path / "x.gguf", extra_special_tokens=["<|my_marker|>"])
    llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    assert len(llm.tokenize(b"<|my_marker|>", add_bos=False, special=True)) == 1


def test_ensure_tiny_model_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATFORMATS_CACHE", str(tmp_path))
    first = ensure_tiny_model()
    mtime = first.stat().st_mtime_ns
    assert ensure_tiny_model() == first and first.stat().st_mtime_ns == mtime
    other = ensure_tiny_model("{{ x }}")
    assert other != first and other.parent == tmp_path
    assert ensure_tiny_model(seed=3) not in (first, other)
