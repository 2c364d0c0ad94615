"""Generation speed of ChatModel against bare llama.cpp loops and llama-cpp-python, on the tiny model.

Three tables, every ratio measured side by side in one run (variants interleaved in a rotating
order, several rounds, medians):

1. tool_call: a required Hermes tool call (Qwen 2.5 template) through ChatModel vs a bare loop:
   a hand-built sampler chain (grammar + top_k/top_p/temp/dist, the same settings and seed),
   `llama_sampler_sample` + `Llama.eval` per token, no parsing, no stop strings. Same Llama object,
   same prompt tokens (the KV cache keeps the prompt for both), tokens/s from tokens actually made.
2. lazy: free text with tool_choice "auto" (a lazy grammar whose trigger never fires) vs the same
   prompt without a grammar, and vs a bare loop. The end-of-generation tokens and the trigger
   token are banned by logit bias in every variant, so each makes exactly --max-tokens tokens.
3. llama_cpp_python: `Llama(chat_format="chatml-function-calling")` vs ChatModel("hermes") on
   the same request (named tool_choice), each on its own Llama so each keeps its own prompt cache.

The tiny model decodes thousands of tokens/s, so these numbers show the per-token cost of the
framework's Python, which a real model's decode time would mostly hide.

    .venv/bin/python bench/bench_runtime.py [--rounds 30] [--max-tokens 512] [--only tool_call,lazy,llama_cpp_python]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Optional, Sequence

import llama_cpp

from harness import TEMPERATURE, TOP_K, TOP_P, bare_loop, interleaved, summarize

from chatformats.cli.demo import DEMO_TOOLS
from chatformats.testing.templates import template_for, templates_dir
from chatformats.hooks import get_registry
from chatformats.llama import ChatModel
from chatformats.testing.tiny_model import ensure_tiny_model

MESSAGES = [{"role": "user", "content": "What's the weather in Paris for 3 days?"}]


# -- benchmarks --------------------------------------------------------------------------------------


def hermes_model(llama: llama_cpp.Llama) -> tuple[ChatModel, str]:
    fmt = get_registry().get("hermes")
    template, described = template_for(fmt, templates_dir())
    return ChatModel(llama, "hermes", template=template), described


def bench_tool_call(path: str, rounds: int, max_tokens: int) -> str:
    llama = llama_cpp.Llama(path, n_ctx=4096, verbose=False)
    model, described = hermes_model(llama)
    prepared = model.prepare(MESSAGES, DEMO_TOOLS, "required", parallel_tool_calls=True)
    assert prepared.plan is not None and not prepared.plan.lazy
    sampling = dict(max_tokens=max_tokens, temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P)
    calls = []

    def chat(seed: int) -> int:
        result = model.chat(MESSAGES, DEMO_TOOLS, "required", seed=seed, **sampling)
        calls.append(len(result["choices"][0]["message"].get("tool_calls") or []))
        return result["usage"]["completion_tokens"]

    def run(seed: int) -> int:
        return model.run(prepared, seed=seed, **sampling)["usage"]["completion_tokens"]

    def stream(seed: int) -> int:
        chunks = list(model.run(prepared, stream=True, stream_options={"include_usage": True}, seed=seed, **sampling))
        return chunks[-1]["usage"]["completion_tokens"]

    def bare(seed: int) -> int:
        return bare_loop(llama, prepared.prompt_tokens, prepared.plan.gbnf, max_tokens, seed)

    for warm in (bare, run):
        warm(0)
    results = interleaved(
        {"bare llama.cpp loop": bare, "ChatModel.run": run, "ChatModel.run(stream)": stream, "ChatModel.chat": chat},
        rounds,
    )
    return (
        f"### 1. Required tool call: ChatModel vs a bare llama.cpp loop with the same grammar\n\n"
        f"hermes, template {described}, {len(prepared.prompt_tokens)} prompt tokens (kept in the KV cache), "
        f"max_tokens={max_tokens}, seed = round, {rounds} rounds; every ChatModel.chat made "
        f"{min(calls)}..{max(calls)} valid-grammar tool call(s).\n"
        f"`ChatModel.chat` adds validate + render + (cached) plan + tokenize + parse to `run`; "
        f"`run(stream)` consumes the chunk iterator (incremental parse included).\n\n" + summarize(results, "bare llama.cpp loop")
    )


def free_text_bias(llama: llama_cpp.Llama, model: ChatModel, words: Sequence[str]) -> dict[int, float]:
    """Ban end-of-generation tokens, the trigger, and byte tokens that are not UTF-8 on their own.

    The last: Engine masks a token that would make invalid UTF-8 and resamples, and ends the
    generation after 16 such resamples in a row, which the random-weight model often forces;
    banning them keeps every variant at exactly max_tokens.
    """
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    banned = {t for t in range(llama_cpp.llama_vocab_n_tokens(vocab)) if llama_cpp.llama_vocab_is_eog(vocab, t)}
    for token in range(model.engine.n_vocab):
        try:
            model.engine.vocab.piece(token).decode("utf-8")
        except UnicodeDecodeError:
            banned.add(token)
    for word in words:
        token = model.single_token(word)
        if token is None:
            raise SystemExit(f"trigger {word!r} is not one token: it could fire from plain text")
        banned.add(token)
    return {t: float("-inf") for t in banned}


def bench_lazy(path: str, rounds: int, max_tokens: int) -> str:
    from dataclasses import replace

    llama = llama_cpp.Llama(path, n_ctx=4096, verbose=False)
    model, described = hermes_model(llama)
    lazy = model.prepare(MESSAGES, DEMO_TOOLS, "auto", parallel_tool_calls=True)
    assert lazy.plan is not None and lazy.plan.lazy and not lazy.plan.patterns and not lazy.plan.patterns_full
    plain = replace(lazy, plan=None, tools=None)  # the very same prompt tokens, no grammar
    bias = free_text_bias(llama, model, list(lazy.plan.words) + list(lazy.plan.tokens))
    sampling = dict(max_tokens=max_tokens, temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P, logit_bias=bias)
    fired = []

    def with_lazy(seed: int) -> int:
        result = model.run(lazy, seed=seed, **sampling)
        fired.append("<tool_call>" in result["chatformats"]["raw_output"] or bool(result["choices"][0]["message"].get("tool_calls")))
        return result["usage"]["completion_tokens"]

    def without(seed: int) -> int:
        return model.run(plain, seed=seed, **sampling)["usage"]["completion_tokens"]

    def bare(seed: int) -> int:
        return bare_loop(llama, lazy.prompt_tokens, None, max_tokens, seed, bias)

    for warm in (bare, without, with_lazy):
        warm(0)
    fired.clear()
    results = interleaved(
        {"bare llama.cpp loop, no grammar": bare, "ChatModel.run, no grammar": without, "ChatModel.run, lazy grammar (never fires)": with_lazy},
        rounds,
    )
    return (
        f"### 2. Lazy grammar before its trigger vs no grammar (free text)\n\n"
        f"hermes, template {described}, tool_choice auto, triggers {lazy.plan.triggers_dict()}; end-of-generation "
        f"tokens, the trigger token and lone UTF-8 byte tokens banned by logit bias in all variants, so each makes exactly {max_tokens} tokens; "
        f"trigger fired in {sum(fired)} of {len(fired)} lazy runs; {rounds} rounds.\n\n"
        + summarize(results, "ChatModel.run, no grammar")
    )


def bench_llama_cpp_python(path: str, rounds: int, max_tokens: int) -> str:
    ours = llama_cpp.Llama(path, n_ctx=4096, verbose=False)
    theirs = llama_cpp.Llama(path, n_ctx=4096, verbose=False, chat_format="chatml-function-calling")
    model, described = hermes_model(ours)
    choice = {"type": "function", "function": {"name": "get_weather"}}
    sampling = dict(max_tokens=max_tokens, temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P)
    names: dict[str, list[str]] = {"ours": [], "theirs": []}

    def chatformats(seed: int) -> int:
        result = model.chat(MESSAGES, DEMO_TOOLS, choice, parallel_tool_calls=False, seed=seed, **sampling)
        names["ours"] += [c["function"]["name"] for c in result["choices"][0]["message"].get("tool_calls") or []]
        return result["usage"]["completion_tokens"]

    def handler(seed: int) -> int:
        result = theirs.create_chat_completion(
            messages=MESSAGES, tools=DEMO_TOOLS, tool_choice=choice, seed=seed, **sampling
        )
        names["theirs"] += [c["function"]["name"] for c in result["choices"][0]["message"].get("tool_calls") or []]
        return result["usage"]["completion_tokens"]

    for warm in (chatformats, handler):
        warm(0)
    for v in names.values():
        v.clear()
    results = interleaved({"llama-cpp-python chatml-function-calling": handler, "ChatModel(hermes).chat": chatformats}, rounds)
    return (
        f"### 3. llama-cpp-python's `chatml-function-calling` handler vs ChatModel(\"hermes\"), same request\n\n"
        f"named tool_choice get_weather, parallel_tool_calls False, max_tokens={max_tokens}, each on its own Llama "
        f"(prompt cache warm), template for ours: {described}; {rounds} rounds. Tool calls returned: "
        f"ours {len(names['ours'])}, theirs {len(names['theirs'])}. Wall time per request is the whole "
        f"create_chat_completion / chat call.\n\n" + summarize(results, "llama-cpp-python chatml-function-calling")
    )


BENCHES = {"tool_call": bench_tool_call, "lazy": bench_lazy, "llama_cpp_python": bench_llama_cpp_python}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    args = parser.parse_args(argv)
    path = str(ensure_tiny_model())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"llama-cpp-python {llama_cpp.__version__}; model: tiny (random weights) {os.path.basename(path)}\n")
    for name in args.only.split(","):
        t0 = time.perf_counter()
        print(BENCHES[name](path, args.rounds, args.max_tokens))
        print(f"\n({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
