"""A tiny random-weight llama GGUF with a real byte-level BPE tokenizer.

The model knows nothing, but it runs on the real llama.cpp: tests and `formats check` use it to
exercise tokenization, grammars, sampling and the KV cache without downloading weights.

Tokenizer: `tokenizer.ggml.model = "gpt2"`, pre-tokenizer `llama-bpe`; the 256 byte tokens in
GPT-2's byte-to-unicode form, a few hundred merges trained here (deterministically) on a small
built-in corpus, then the model's own bos/eos/eot/eom and every registered format's
`control_tokens` as CONTROL tokens, sorted (their ids do not depend on the order formats register
in). CONTROL tokens are only matched when tokenizing with special=True, so user text cannot forge
them.

End-of-generation (EOG) tokens of the tiny model. llama.cpp marks EOG by token text
(src/llama-vocab.cpp): <|eot_id|>, <|eom_id|>, <|end_of_text|>, <|im_end|>, <|endoftext|>, <|end|>,
<end_of_turn>, </s>, <｜end▁of▁sentence｜>; plus the eos/eot/eom ids set here:
eos = <|end_of_text|>, eot = <|END_OF_TURN_TOKEN|> (not known by text), eom = <|eom_id|>.
bos = <|begin_of_text|>; no BOS/EOS is added on tokenize (templates write them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from ..hooks import Registry, get_registry
from ..llama.vocab import byte_tokens, cache_dir as chatformats_cache_dir, get_vocab, gguf_writer

BUILDER_VERSION = "3"

# The model's own bos/eos/eot/eom: texts llama.cpp knows (the eot one it knows by id only).
BOS_TOKEN = "<|begin_of_text|>"
EOS_TOKEN = "<|end_of_text|>"
EOT_TOKEN = "<|END_OF_TURN_TOKEN|>"
EOM_TOKEN = "<|eom_id|>"

# Markers llama.cpp treats as end-of-generation by their text (src/llama-vocab.cpp), plus the
# eos/eot/eom ids above. Kept here so tests can check the tiny model agrees with llama.cpp.
EOG_TOKENS: tuple[str, ...] = (
    "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>", "<|end|>",
    "<end_of_turn>", "</s>", "<｜end▁of▁sentence｜>", EOT_TOKEN,
)

N_MERGES = 400

_CORPUS = """
The quick brown fox jumps over the lazy dog. What is the weather like in Paris today?
I will call the function get_weather with the location and the unit. The answer is sunny.
Please find the current temperature, the time, the date and the city for the user.
You are a helpful assistant with access to the following tools. Use them if required.
Here is the result of the tool call. Thank you, that is all I need. Let me think about it.
{"name": "get_weather", "arguments": {"location": "Paris", "unit": "celsius"}}
{"name": "get_current_time", "parameters": {"timezone": "Europe/London"}}
{"type": "function", "function": {"name": "search", "description": "Search the web",
"parameters": {"type": "object", "properties": {"query": {"type": "string"}},
"required": ["query"]}}}
[{"name": "calculate", "arguments": {"expression": "2 + 2", "value": 42, "ok": true}}]
{"tool_call_id": "0", "tool_name": "lookup", "parameters": {"id": 123, "items": [1, 2, 3]}}
{"content": "The temperature is 21 degrees", "call_id": "abc123def", "results": null}
<function=get_weather>{"location": "Berlin"}</function> functools[{"name": "add"}]
get_weather.call(location="New York") >>>all\n```json\n{"a": false}\n```
def get_weather(location: str, unit: str = "celsius") -> dict: return {"temp": 20.5}
system user assistant tool ipython content role message messages response result results
number integer boolean array object string null true false enum minimum maximum items
Environment: ipython Cutting Knowledge Date: December 2023 Today Date: 26 Jul 2024
"""


_BYTE_CHARS = dict(enumerate(byte_tokens()))

# An approximation of llama.cpp's llama-bpe pre-tokenizer with the stdlib `re`: it only decides
# which chunks merges are trained on, llama.cpp applies its own splitter at tokenize time.
_LETTER = r"[^\W\d_]"
_NOT_LN = r"(?:[^\w\r\n]|_)"
_NOT_SLN = r"(?:[^\w\s]|_)"
_PRETOKEN = re.compile(
    rf"'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|{_NOT_LN}?{_LETTER}+|\d{{1,3}}"
    rf"| ?{_NOT_SLN}+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _to_byte_chars(text: str) -> str:
    return "".join(_BYTE_CHARS[b] for b in text.encode("utf-8"))


@lru_cache(maxsize=4)
def train_merges(n_merges: int = N_MERGES) -> tuple[str, ...]:
    """Train BPE merges on the built-in corpus; ties break on the pair text (deterministic)."""
    chunk_counts = Counter(_to_byte_chars(m) for m in _PRETOKEN.findall(_CORPUS))
    words = [[list(chunk), count] for chunk, count in sorted(chunk_counts.items())]
    merges: list[str] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in words:
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(f"{best[0]} {best[1]}")
        joined = best[0] + best[1]
        for word in words:
            symbols = word[0]
            if len(symbols) < 2:
                continue
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == best[0] and symbols[i + 1] == best[1]:
                    out.append(joined)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            word[0] = out
    return tuple(merges)


def registered_control_tokens(registry: Optional[Registry] = None) -> tuple[str, ...]:
    """The control tokens of every format in `registry` (default: the process's), in its order."""
    found = (token for fmt in (registry or get_registry()) for token in fmt.spec.control_tokens)
    return tuple(dict.fromkeys(found))


def _vocab(control: Sequence[str]) -> tuple[list[str], list[int], list[str]]:
    """Token texts, token types, merges. Specials come last so byte/merge ids never move."""
    import gguf

    specials = sorted({BOS_TOKEN, EOS_TOKEN, EOT_TOKEN, EOM_TOKEN, *control})
    special_set = set(specials)
    tokens = [_BYTE_CHARS[b] for b in range(256)]
    seen = set(tokens)
    merges = []
    for merge in train_merges():
        joined = merge.replace(" ", "")
        if joined in special_set:  # never let a normal token shadow a control token
            continue
        merges.append(merge)
        if joined not in seen:
            seen.add(joined)
            tokens.append(joined)
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    for text in specials:
        if text in seen:
            raise ValueError(f"special token {text!r} collides with a normal token")
        tokens.append(text)
        types.append(int(gguf.TokenType.CONTROL))
    return tokens, types, merges


def build_tiny_model(
    path: str | os.PathLike[str],
    *,
    chat_template: str | None = None,
    seed: int = 0,
    n_embd: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    n_ff: int = 128,
    n_ctx: int = 4096,
    control_tokens: Optional[Iterable[str]] = None,
    extra_special_tokens: Iterable[str] = (),
    extra_metadata: Optional[dict[str, str]] = None,
) -> Path:
    """Write a random-weight llama GGUF (f32) with the tiny BPE tokenizer to `path`.

    Deterministic for the same arguments. The file is written to a temporary name and renamed,
    so a concurrent reader never sees a half-written model.
    """
    import gguf

    path = Path(path)
    if control_tokens is None:
        control_tokens = registered_control_tokens()
    tokens, types, merges = _vocab((*control_tokens, *extra_special_tokens))
    ids = {text: i for i, text in enumerate(tokens)}
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def weights(*shape: int, scale: float = 0.5) -> np.ndarray:
        # numpy shape is ggml's ne reversed; scale keeps the logits varied, not saturated
        return (rng.standard_normal(shape) * scale / np.sqrt(shape[-1])).astype(np.float32)

    with gguf_writer(path) as writer:
        writer.add_name("chatformats-tiny")
        writer.add_context_length(n_ctx)
        writer.add_embedding_length(n_embd)
        writer.add_block_count(n_layer)
        writer.add_feed_forward_length(n_ff)
        writer.add_head_count(n_head)
        writer.add_head_count_kv(n_head)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_rope_dimension_count(n_embd // n_head)
        writer.add_vocab_size(n_vocab)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)

        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("llama-bpe")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_bos_token_id(ids[BOS_TOKEN])
        writer.add_eos_token_id(ids[EOS_TOKEN])
        writer.add_eot_token_id(ids[EOT_TOKEN])
        writer.add_eom_token_id(ids[EOM_TOKEN])
        writer.add_add_bos_token(False)
        writer.add_add_eos_token(False)
        if chat_template is not None:
            writer.add_chat_template(chat_template)
        for key, value in (extra_metadata or {}).items():  # e.g. tokenizer.chat_template.tool_use
            writer.add_string(key, value)

        writer.add_tensor("token_embd.weight", weights(n_vocab, n_embd, scale=1.0))
        for i in range(n_layer):
            blk = f"blk.{i}"
            writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
            writer.add_tensor(f"{blk}.attn_q.weight", weights(n_embd, n_embd))
            writer.add_tensor(f"{blk}.attn_k.weight", weights(n_embd, n_embd))
            writer.add_tensor(f"{blk}.attn_v.weight", weights(n_embd, n_embd))
            writer.add_tensor(f"{blk}.attn_output.weight", weights(n_embd, n_embd))
            writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
            writer.add_tensor(f"{blk}.ffn_gate.weight", weights(n_ff, n_embd))
            writer.add_tensor(f"{blk}.ffn_up.weight", weights(n_ff, n_embd))
            writer.add_tensor(f"{blk}.ffn_down.weight", weights(n_embd, n_ff))
        writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor("output.weight", weights(n_vocab, n_embd, scale=4.0))
    return path


def default_model_path() -> Path:
    """Directory for cached tiny models: $CHATFORMATS_CACHE or ~/.cache/chatformats."""
    return chatformats_cache_dir()


def ensure_tiny_model(
    chat_template: str | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    **kw: Any,
) -> Path:
    """Return a cached tiny model for these inputs, building it on first use.

    `kw` are `build_tiny_model`'s keyword arguments; the file name is a hash of all inputs and
    BUILDER_VERSION, so a changed builder never reuses a stale file.
    """
    if "extra_special_tokens" in kw:
        kw["extra_special_tokens"] = tuple(kw["extra_special_tokens"])
    # the tokens are part of the key: another set of formats makes another model
    given = kw.get("control_tokens")
    kw["control_tokens"] = tuple(registered_control_tokens() if given is None else given)
    key_text = json.dumps(
        [BUILDER_VERSION, chat_template, sorted(kw.items())], ensure_ascii=False, default=list
    )
    key = hashlib.sha256(key_text.encode("utf-8")).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else default_model_path()
    path = root / f"tiny-{key}.gguf"
    if not path.exists():
        build_tiny_model(path, chat_template=chat_template, **kw)
    return path


def tiny_vocab():
    """The default tiny model's vocabulary (for acceptance checks in tests and `formats check`)."""
    return get_vocab(ensure_tiny_model())
