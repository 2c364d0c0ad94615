"""Serving many clients: chatformats over llama-server vs llama-server's own chat endpoint vs
chatformats in process. Same model (SmolLM2-135M-Instruct), same request (a required tool call for
"What's the weather like in Paris right now?"), 1, 4 and 8 concurrent clients, one run:

- `formats serve --backend URL`: chatformats renders, constrains and parses; llama-server decodes
  (continuous batching across its slots);
- llama-server's own `/v1/chat/completions` with the same tools and tool_choice (its own template
  handling and tool-call parser);
- `formats serve --model`: the in-process engine, one generation at a time;
- llama-server's `/completion` with exactly what chatformats sends it (prompt tokens, GBNF,
  sampling): the same decoding work without the Python layer, to isolate its cost.

Each server runs as its own process; clients are async httpx. Aggregate tok/s = completion tokens
of all requests / wall time; valid calls/s = schema-valid get_weather calls / wall time. A second
table gives the Python layer's own cost per request (render, grammar, tokenize, parse) at p50/p99.

    .venv/bin/python bench/bench_serve.py [--rounds 4] [--requests-per-client 2] [--threads 1] [--slots 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from typing import Any, Optional

import httpx

from harness import table

from chatformats.cli.demo import WEATHER_QUESTION, WEATHER_TOOL, invalid_calls
from chatformats.llama import ChatModel
from chatformats.llama.models import model_path
from chatformats.llama.spawn import LlamaServerProcess, free_port

MESSAGES = [{"role": "user", "content": WEATHER_QUESTION}]


def start_formats_serve(*args: str, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, CHATFORMATS_THREADS=str(threads))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatformats", "serve", "--port", str(port), "--max-queue", "256", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("formats serve did not start")


class Direct:
    """What chatformats sends llama-server for the request, replayed straight at /completion."""

    def __init__(self, url: str, max_tokens: int) -> None:
        self.url = url
        self.model = ChatModel(url)
        self.prepared = self.model.prepare(MESSAGES, [WEATHER_TOOL], "required")
        self.max_tokens = max_tokens

    def body(self, seed: int) -> dict[str, Any]:
        options = self.model.options(self.prepared, {"max_tokens": self.max_tokens, "seed": seed})
        return self.model.backend.completion_body(self.prepared.prompt_tokens, stream=False, **options)

    def reply(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return data["tokens_predicted"], self.model.parse(self.prepared, data["content"])


async def load(
    base: str, clients: int, per_client: int, max_tokens: int, direct: Optional[Direct] = None, round_: int = 0
) -> dict[str, Any]:
    body = {"model": "m", "messages": MESSAGES, "tools": [WEATHER_TOOL], "tool_choice": "required",
            "max_tokens": max_tokens, "temperature": 0.8, "top_p": 0.95}
    tokens = valid = failed = 0
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=64)) as client:
        async def worker(w: int) -> None:
            nonlocal tokens, valid, failed
            for i in range(per_client):
                seed = 100_000 * round_ + 1000 * w + i  # the same seeds for every variant in a round
                started = time.perf_counter()
                if direct is not None:
                    reply = await client.post(base + "/completion", json=direct.body(seed))
                else:
                    reply = await client.post(base + "/v1/chat/completions", json={**body, "seed": seed})
                latencies.append(time.perf_counter() - started)
                if reply.status_code != 200:
                    failed += 1
                    continue
                data = reply.json()
                if direct is not None:
                    made, message = direct.reply(data)
                else:
                    made, message = data["usage"]["completion_tokens"], data["choices"][0]["message"]
                tokens += made
                valid += bool(message.get("tool_calls")) and not invalid_calls(message, [WEATHER_TOOL])

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        wall = time.perf_counter() - started
    n = clients * per_client
    return {"tok/s": tokens / wall, "calls/s": valid / wall, "valid": valid, "n": n, "failed": failed,
            "p50 s": statistics.median(latencies)}


def overhead(url: str, rounds: int) -> str:
    """The Python layer's cost per request on the llama-server backend: render, grammar (plan +
    check), tokenize (over HTTP: /tokenize), parse."""
    model = ChatModel(url)
    prepared = model.prepare(MESSAGES, [WEATHER_TOOL], "required")
    text = model.chat(MESSAGES, [WEATHER_TOOL], "required", max_tokens=96, seed=1)["chatformats"]["raw_output"]
    samples: dict[str, list[float]] = {"render": [], "grammar": [], "tokenize": [], "parse": [], "total": []}
    for _ in range(rounds):
        prepared = model.prepare(MESSAGES, [WEATHER_TOOL], "required")
        started = time.perf_counter()
        model.parse(prepared, text)
        parse_ms = (time.perf_counter() - started) * 1e3
        for key in ("render", "grammar", "tokenize"):
            samples[key].append(prepared.timings[f"{key}_ms"])
        samples["parse"].append(parse_ms)
        samples["total"].append(sum(prepared.timings.values()) + parse_ms)

    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    rows = [[k, p(v, 0.5), p(v, 0.99)] for k, v in samples.items()]
    return table(["step", "p50 ms", "p99 ms"], rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests-per-client", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--overhead-rounds", type=int, default=200)
    args = parser.parse_args(argv)
    path = str(model_path("smollm2-135m"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"SmolLM2-135M-Instruct, {args.threads} decode thread(s), llama-server -np {args.slots}, "
        f"{args.requests_per_client} requests per client per round, {args.rounds} rounds, max_tokens {args.max_tokens}\n"
    )
    server = LlamaServerProcess(path, slots=args.slots, threads=args.threads, ctx_size=2048).start()
    procs = []
    own = None
    try:
        # llama-server's own chat endpoint renders another prompt: on its own process, so neither
        # finds its slots' KV cache holding the other's prompt (a cold slot re-evaluates it, seconds)
        own = LlamaServerProcess(path, slots=args.slots, threads=args.threads, ctx_size=2048).start()
        over, over_base = start_formats_serve("--backend", server.url, threads=args.threads)
        local, local_base = start_formats_serve("--model", path, threads=args.threads)
        procs = [over, local]
        direct = Direct(server.url, args.max_tokens)
        variants = {
            "formats serve --backend (llama-server decodes)": (over_base, None),
            "llama-server /completion, chatformats' prompt + GBNF": (server.url, direct),
            "llama-server's own /v1/chat/completions": (own.url, None),
            "formats serve --model (in process)": (local_base, None),
        }
        # warm up: every slot holds the prompt (a cold slot re-evaluates it, ~2-8 s here, and would
        # land on whichever variant first runs that many clients), tokenizers built
        for base, how in variants.values():
            asyncio.run(load(base, args.slots, 1, args.max_tokens, how, round_=-1))
        names = list(variants)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_ in range(args.rounds):
            for clients in map(int, args.clients.split(",")):
                shift = round_ % len(names)  # a rotating order: machine drift hits every variant alike
                for name in names[shift:] + names[:shift]:
                    base, how = variants[name]
                    result = asyncio.run(load(base, clients, args.requests_per_client, args.max_tokens, how, round_))
                    runs.setdefault((name, clients), []).append(result)
                    print(f"round {round_}, {clients} clients, {name}: {result['tok/s']:.1f} tok/s", file=sys.stderr)
        own_name, direct_name = names[2], names[1]
        rows = []
        for clients in map(int, args.clients.split(",")):
            for name in names:
                r = runs[(name, clients)]

                def ratio(baseline: str) -> float:
                    return statistics.median(a["tok/s"] / b["tok/s"] for a, b in zip(r, runs[(baseline, clients)]))

                rows.append([
                    clients, name, statistics.median(x["tok/s"] for x in r), ratio(own_name), ratio(direct_name),
                    statistics.median(x["calls/s"] for x in r), f"{sum(x['valid'] for x in r)}/{sum(x['n'] for x in r)}",
                    sum(x["failed"] for x in r), statistics.median(x["p50 s"] for x in r),
                ])
        print(table(
            ["clients", "server", "aggregate tok/s", "tok/s vs llama-server's own", "tok/s vs the same /completion",
             "valid calls/s", "valid calls", "errors", "p50 latency s"],
            rows,
        ))
        print(f"\n(medians over {args.rounds} rounds, variants in a rotating order; ratios are medians of per-round ratios)")
        print("\nPython layer per request on the llama-server backend (ChatModel.prepare + parse; tokenize is /tokenize over HTTP):\n")
        print(overhead(server.url, args.overhead_rounds))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()
        if own is not None:
            own.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
