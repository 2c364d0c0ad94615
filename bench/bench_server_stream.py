"""What streaming costs llama-server: the same /completion (chatformats' prompt tokens and GBNF for a
required get_weather call, SmolLM2-135M-Instruct) sent by N concurrent clients, streamed vs not,
in alternating order over several rounds, same seeds per round.

chatformats' llama-server backend always streams (llama-server notices a vanished non-streaming
client only after a second with no result for any request); this measures what that costs.

    .venv/bin/python bench/bench_server_stream.py [--rounds 8] [--clients 8] [--slots 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from typing import Optional

import httpx

from bench_serve import Direct
from harness import table

from chatformats.llama.models import model_path
from chatformats.llama.spawn import LlamaServerProcess


async def burst(url: str, direct: Direct, stream: bool, clients: int, seed0: int) -> float:
    """tok/s of `clients` concurrent requests: tokens generated / wall time."""
    async with httpx.AsyncClient(timeout=600) as client:

        async def one(seed: int) -> int:
            body = {**direct.body(seed), "stream": stream}
            if not stream:
                return (await client.post(url + "/completion", json=body)).json()["tokens_predicted"]
            predicted = 0
            async with client.stream("POST", url + "/completion", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data:") and '"stop":true' in line:
                        predicted = json.loads(line[5:])["timings"]["predicted_n"]
            return predicted

        started = time.perf_counter()
        tokens = await asyncio.gather(*(one(seed0 + i) for i in range(clients)))
        return sum(tokens) / (time.perf_counter() - started)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"SmolLM2-135M-Instruct, {args.threads} decode thread(s), llama-server -np {args.slots}, "
        f"{args.clients} concurrent requests per run, {args.rounds} rounds, max_tokens {args.max_tokens}\n"
    )
    with LlamaServerProcess(str(model_path("smollm2-135m")), slots=args.slots, threads=args.threads, ctx_size=2048) as server:
        direct = Direct(server.url, args.max_tokens)
        for stream in (True, False):  # warm up: every slot holds the prompt
            asyncio.run(burst(server.url, direct, stream, args.slots, -1000))
        rates: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(args.rounds):
            for stream in (True, False) if round_ % 2 else (False, True):
                rates[stream].append(asyncio.run(burst(server.url, direct, stream, args.clients, 1000 * round_)))
    ratio = statistics.median(s / w for s, w in zip(rates[True], rates[False]))
    print(table(
        ["/completion", "aggregate tok/s", "tok/s vs not streamed"],
        [["not streamed", statistics.median(rates[False]), 1.0], ["streamed", statistics.median(rates[True]), ratio]],
    ))
    print("\n(medians over the rounds; the ratio is the median of per-round ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
