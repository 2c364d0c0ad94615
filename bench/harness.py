"""What the benchmarks share: interleaved rounds, tables, and the bare llama.cpp loop (the model's
own decode: llama.cpp's sampler chain on the raw logits, no Python per token beyond the loop).

Scripts in bench/ import it as `harness` (they run as `python bench/NAME.py`)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Optional, Sequence

import llama_cpp

TEMPERATURE, TOP_K, TOP_P = 0.8, 40, 0.95


def interleaved(variants: dict[str, Callable[[int], Any]], rounds: int) -> dict[str, list[tuple[float, Any]]]:
    """Run each variant once per round in a rotating order (machine drift hits all alike).

    Each variant gets the round number (used as the seed). Returns {name: [(seconds, result)]}.
    """
    names = list(variants)
    out: dict[str, list[tuple[float, Any]]] = {n: [] for n in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            result = variants[name](r)
            out[name].append((time.perf_counter() - t0, result))
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def rate(run: tuple[float, int]) -> float:
    """tokens/s of one run: its token count over its whole wall time."""
    seconds, tokens = run
    return tokens / seconds if seconds > 0 else 0.0


def summarize(results: dict[str, list[tuple[float, Any]]], baseline: str) -> str:
    """Median ms/request, tokens, tok/s (median of per-round tok/s) and the ratio to `baseline`."""
    rates = {name: statistics.median(rate(r) for r in runs) for name, runs in results.items()}
    rows = []
    for name, runs in results.items():
        ms = statistics.median(s for s, _ in runs) * 1e3
        tokens = statistics.median(n for _, n in runs)
        rows.append([name, ms, tokens, rates[name], 1e6 / rates[name] if rates[name] else 0.0, rates[name] / rates[baseline]])
    headers = ["variant", "ms/request", "tokens", "tok/s", "µs/token", f"tok/s vs {baseline}"]
    return table(headers, rows) + "\n\n(medians over the rounds)"


def paired(results: dict[str, list[tuple[float, int]]], variant: str, baseline: str) -> float:
    """Median over the rounds of variant tok/s / baseline tok/s in the same round (cancels drift)."""
    return statistics.median(rate(a) / rate(b) for a, b in zip(results[variant], results[baseline]))


def load_prompt(llama: llama_cpp.Llama, prompt: list[int]) -> None:
    """Keep the KV cache's prefix when it is this prompt (as Engine does); re-evaluate the last token."""
    n = len(prompt)
    cached = llama.n_tokens >= n - 1 and list(llama.input_ids[: n - 1]) == prompt[: n - 1]
    keep = n - 1 if cached else 0
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llama.ctx), -1, keep, -1)
    llama.n_tokens = keep
    llama.eval(prompt[keep:])


def bare_loop(
    llama: llama_cpp.Llama,
    prompt: list[int],
    grammar: Optional[str],
    max_tokens: int,
    seed: int,
    bias: Optional[dict[int, float]] = None,
) -> int:
    """Sample with a hand-built chain: [bias] [grammar] top_k top_p temp dist. Returns tokens made."""
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    if bias:
        entries = (llama_cpp.llama_logit_bias * len(bias))(*[llama_cpp.llama_logit_bias(t, b) for t, b in bias.items()])
        llama_cpp.llama_sampler_chain_add(
            chain, llama_cpp.llama_sampler_init_logit_bias(llama_cpp.llama_vocab_n_tokens(vocab), len(bias), entries)
        )
    if grammar:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root"))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(TOP_K))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(TOP_P, 1))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(TEMPERATURE))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
    made = 0
    try:
        load_prompt(llama, prompt)
        for _ in range(max_tokens):
            token = llama_cpp.llama_sampler_sample(chain, llama.ctx, -1)  # also accepts it
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            made += 1
            llama.eval([token])
        return made
    finally:
        llama_cpp.llama_sampler_free(chain)
