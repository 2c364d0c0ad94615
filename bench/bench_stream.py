"""Streaming parse cost: incremental stream_parser vs one-shot parse vs re-parsing on every piece.

A realistic Hermes output (a content paragraph, then several `<tool_call>` blocks whose arguments
hold long strings) is cut into pieces of ~4 characters (the markers stay whole, as one special
token each), i.e. about one piece per token. For outputs of 500 to 4,000 pieces:
- one-shot: api.parse of the whole text (what a non-streaming request pays once);
- incremental: api.stream_parser, feed() per piece, then finish();
- naive: api.parse of the whole text so far after every piece (what a streaming server that only
  has a one-shot parser would do): quadratic in the output length.
The incremental parser's final message is checked equal to the one-shot parse (call ids aside). Variants and sizes
are interleaved in a rotating order over the rounds; medians.

    .venv/bin/python bench/bench_stream.py [--rounds 5] [--sizes 500,1000,2000,4000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from typing import Any, Callable, Optional

from bench_overhead import table  # run as a script: bench/ is on sys.path
from chatformats.hooks import api

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Write a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query"],
            },
        },
    },
]
MARKERS = ("<tool_call>", "</tool_call>")
WORDS = ("the", "weather", "report", "for", "Paris", "shows", "light", "rain", "and", "a", "mild",
         "breeze", "tomorrow", "with", "temperatures", "near", "18°C", "so", "bring", "an", "umbrella")


def hermes_output(n_pieces: int, seed: int = 0) -> list[str]:
    """About `n_pieces` pieces of a Hermes answer: content, then tool calls (~4 chars a piece)."""
    rng = random.Random(seed)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."

    budget = n_pieces * 4
    blocks = [" ".join(sentence(12) for _ in range(max(1, budget // 8 // 80)))]
    size = len(blocks[0])
    i = 0
    while size < budget:
        if i % 2 == 0:
            args = {"path": f"notes/day{i}.md", "content": "\n".join(sentence(10) for _ in range(8))}
            call = {"name": "write_file", "arguments": args}
        else:
            call = {"name": "search", "arguments": {"query": sentence(6), "limit": 5}}
        body = "\n" + json.dumps(call, ensure_ascii=False) + "\n"
        blocks += ["\n", MARKERS[0], body, MARKERS[1]]
        size += len(body) + 3
        i += 1
    pieces: list[str] = []
    for block in blocks:
        if block in MARKERS:
            pieces.append(block)
        else:
            pieces += [block[k:k + 4] for k in range(0, len(block), 4)]
    return pieces


def one_shot(pieces: list[str]) -> dict[str, Any]:
    return api.parse("hermes", "".join(pieces), TOOLS)


def incremental(pieces: list[str]) -> dict[str, Any]:
    parser = api.stream_parser("hermes", TOOLS)
    n_deltas = 0
    for piece in pieces:
        n_deltas += len(parser.feed(piece))
    deltas, message = parser.finish()
    return message


def naive(pieces: list[str]) -> dict[str, Any]:
    text = ""
    message: dict[str, Any] = {}
    for piece in pieces:
        text += piece
        message = api.parse("hermes", text, TOOLS)
    return message


def without_ids(message: dict[str, Any]) -> str:
    """The message as JSON, call ids left out (each parse makes up fresh ones)."""
    calls = [{k: v for k, v in c.items() if k != "id"} for c in message.get("tool_calls") or []]
    return json.dumps({**message, "tool_calls": calls}, sort_keys=True)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="500,1000,2000,4000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    outputs = {n: hermes_output(n) for n in sizes}
    variants: dict[str, Callable[[list[str]], dict[str, Any]]] = {
        "one-shot": one_shot, "incremental": incremental, "naive re-parse": naive,
    }
    for n, pieces in outputs.items():
        expected, got = one_shot(pieces), incremental(pieces)
        if without_ids(expected) != without_ids(got):
            raise SystemExit(f"{n} pieces: the incremental parse differs from the one-shot parse")
    jobs = [(n, name) for n in sizes for name in variants]
    times: dict[tuple[int, str], list[float]] = {job: [] for job in jobs}
    t_start = time.perf_counter()
    for r in range(args.rounds):
        shift = r % len(jobs)
        for n, name in jobs[shift:] + jobs[:shift]:
            t0 = time.perf_counter()
            variants[name](outputs[n])
            times[(n, name)].append((time.perf_counter() - t0) * 1e3)
    elapsed = time.perf_counter() - t_start
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.rounds} interleaved rounds, {elapsed:.1f} s\n")
    rows = []
    for n in sizes:
        pieces = outputs[n]
        med = {name: statistics.median(times[(n, name)]) for name in variants}
        calls = len(one_shot(pieces).get("tool_calls") or [])
        rows.append([
            len(pieces), len("".join(pieces)), calls, med["one-shot"], med["incremental"], med["naive re-parse"],
            med["incremental"] / med["one-shot"], med["naive re-parse"] / med["incremental"],
            med["incremental"] * 1e3 / len(pieces), med["naive re-parse"] * 1e3 / len(pieces),
        ])
    print(table(
        ["pieces", "chars", "tool calls", "one-shot ms", "incremental ms", "naive ms", "incremental / one-shot",
         "naive / incremental", "incremental µs/piece", "naive µs/piece"],
        rows,
    ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
