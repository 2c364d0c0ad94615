"""Per-request overhead of every format: render, grammar build (uncached and cached) and parse.

For 1, 10 and 50 generated tools (five typed parameters each: a bounded string, an integer range,
an enum, a boolean and an optional number), per format:
- render: validate_request + api.render with the format's real template (from
  $CHATFORMATS_TEMPLATES_DIR, else its own or the demo template);
- plan uncached: api.plan (tool_choice auto, parallel calls) after clearing chatformats.grammar.build's
  plan cache and the vocab's cache of grammars llama.cpp already accepted, so it builds the GBNF,
  derives the triggers and has llama.cpp parse the grammar;
- plan cached: the same call again (what a server pays for a repeated tool set);
- parse: api.parse of the format's own rendering of an assistant turn with two calls (the
  template's text after the generation prompt, as the round-trip oracle takes it; one call
  where the template refuses parallel calls).
Rounds are interleaved over all (format, tools) cells in a rotating order; medians in ms.

    .venv/bin/python bench/bench_overhead.py [--rounds 25] [--tools 1,10,50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any, Optional, Sequence

from chatformats.hooks import api
from chatformats.grammar import build as grammar_build
from chatformats.testing.templates import template_for, templates_dir
from chatformats.llama import get_vocab
from chatformats.testing.oracle import end_of_turn_markers, prompt_delta
from chatformats.hooks import get_registry
from chatformats.prompt import validate_request

USER = {"role": "user", "content": "Plan my trip: weather, alarms and bookings, please."}


def make_tools(n: int) -> list[dict[str, Any]]:
    """`n` tools with a few typed parameters each (names differ so grammars differ)."""
    tools = []
    for i in range(n):
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": f"tool_{i:02d}_lookup",
                    "description": f"Look up record kind {i}.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "query": {"type": "string", "maxLength": 64, "description": "What to find."},
                            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                            "order": {"type": "string", "enum": ["asc", "desc"]},
                            "exact": {"type": "boolean"},
                            "score": {"type": "number"},
                        },
                        "required": ["query", "limit"],
                    },
                },
            }
        )
    return tools


def assistant_turn(tools: list[dict[str, Any]], n_calls: int) -> dict[str, Any]:
    names = [tools[0]["function"]["name"], tools[-1]["function"]["name"]][:n_calls]
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call{i}abcde"[:9],
                "type": "function",
                "function": {"name": name, "arguments": json.dumps({"query": "Paris hotels", "limit": 5, "order": "asc"})},
            }
            for i, name in enumerate(names)
        ],
    }


class Cell:
    """One (format, number of tools) combination and its measured steps."""

    def __init__(self, fmt, template: Optional[str], n_tools: int):
        self.fmt, self.template, self.n_tools = fmt, template, n_tools
        self.tools = make_tools(n_tools)
        self.request = {"messages": [USER], "tools": self.tools, "tool_choice": "auto", "parallel_tool_calls": True}
        prefix = api.render(fmt, {"messages": [USER], "tools": self.tools}, template)
        # two calls, or one where the template refuses parallel calls (e.g. Llama 3.1)
        for self.n_calls in (2, 1):
            turn = {"messages": [USER, assistant_turn(self.tools, self.n_calls)], "tools": self.tools}
            try:
                full = api.render(fmt, turn, template, add_generation_prompt=False)
                break
            except Exception:
                if self.n_calls == 1:
                    raise
        self.output = prompt_delta(prefix, full, end_of_turn_markers(fmt))
        self.times: dict[str, list[float]] = {k: [] for k in ("render", "plan uncached", "plan cached", "parse")}
        self.grammar_chars = 0
        self.calls_parsed = 0

    def measure(self) -> None:
        fmt, tools = self.fmt, self.tools
        t0 = time.perf_counter()
        request = validate_request(dict(self.request), fmt.spec)
        api.render(fmt, request, self.template)
        t1 = time.perf_counter()
        grammar_build._cache.clear()
        get_vocab().valid_grammars.clear()
        t2 = time.perf_counter()
        plan = api.plan(fmt, tools, "auto", True)
        t3 = time.perf_counter()
        api.plan(fmt, tools, "auto", True)
        t4 = time.perf_counter()
        message = api.parse(fmt, self.output, tools)
        t5 = time.perf_counter()
        for key, seconds in zip(self.times, (t1 - t0, t3 - t2, t4 - t3, t5 - t4)):
            self.times[key].append(seconds * 1e3)
        self.grammar_chars = len(plan.gbnf) if plan else 0
        self.calls_parsed = len(message.get("tool_calls") or [])


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) and v < 10 else f"{v:,.1f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--tools", default="1,10,50")
    parser.add_argument("--formats", default="", help="comma-separated (default: all registered)")
    args = parser.parse_args(argv)
    registry = get_registry()
    names = args.formats.split(",") if args.formats else [f.name for f in registry]
    directory = templates_dir()
    cells: list[Cell] = []
    described: dict[str, str] = {}
    for name in names:
        fmt = registry.get(name)
        template, described[name] = template_for(fmt, directory)
        cells += [Cell(fmt, template, int(n)) for n in args.tools.split(",")]
    for cell in cells:
        cell.measure()  # warm-up: imports, jinja compilation, regexes
        for values in cell.times.values():
            values.clear()
    t_start = time.perf_counter()
    for r in range(args.rounds):
        shift = r % len(cells)
        for cell in cells[shift:] + cells[:shift]:
            cell.measure()
    elapsed = time.perf_counter() - t_start
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.rounds} interleaved rounds, {elapsed:.1f} s\n")
    rows = []
    for cell in cells:
        med = {k: statistics.median(v) for k, v in cell.times.items()}
        total = med["render"] + med["plan uncached"] + med["parse"]
        total_cached = med["render"] + med["plan cached"] + med["parse"]
        rows.append(
            [cell.fmt.name, cell.n_tools, med["render"], med["plan uncached"], med["plan cached"], med["parse"],
             total, total_cached, cell.grammar_chars, f"{cell.calls_parsed}/{cell.n_calls}"]
        )
    print(table(
        ["format", "tools", "render ms", "plan ms (uncached)", "plan ms (cached)", "parse ms",
         "total ms (uncached)", "total ms (cached)", "GBNF chars", "calls parsed"],
        rows,
    ))
    print("\ntemplates: " + "; ".join(f"{k}: {v}" for k, v in described.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
