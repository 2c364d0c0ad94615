"""Parsing is linear in the output, whole or streamed: 1 MB of each input that used to be
quadratic (issue 10) parses in seconds, and ten times the text takes about ten times as long.

Timed in a fresh subprocess (nothing else of the suite in its heap), with generous bounds: a slow
shared machine passes, a quadratic parser (minutes at 1 MB) does not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

PATTERNS = {
    # name: (format, repeated unit, streamed)
    "llama3 many <|python_tag|>": ("llama3", "<|python_tag|>brave_search.call(query=", False),
    "llama3 leading whitespace, streamed": ("llama3", " ", True),
    "generic leading whitespace, streamed": ("generic", "\n", True),
    "hermes reasoning whitespace, streamed": ("hermes", "  ", True),
    "hermes many openers before JSON": ("hermes", "<tool_call>{", False),
    "hermes many openers before JSON, streamed": ("hermes", "<tool_call>{", True),
    "hermes openers in an unclosed reasoning block": ("hermes", "<think><tool_call>\n{\"name\": ", False),
    "mistral many sections": ("mistral-nemo", "[TOOL_CALLS][", False),
    "deepseek-r1 calls never closed": ("deepseek-r1", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": ", False),
    "functionary-v3.1 names": ("functionary-v3.1", "<function=get_weather>", False),
    "qwen3-coder unclosed calls": ("qwen3-coder", "<tool_call>\n<function=get_weather>\n<parameter=city>\n", False),
}

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from chatformats.hooks import api, get_registry
    from chatformats.testing.check import example_tools

    name, unit, streamed = json.loads(sys.argv[1])
    fmt = get_registry().get(name)
    tools = example_tools(fmt)
    times = {}
    for size in (100_000, 1_000_000):
        text = (unit * (size // len(unit) + 1))[:size]
        start = time.perf_counter()
        if streamed:
            parser = api.stream_parser(fmt, tools)
            for i in range(0, len(text), 16):
                parser.feed(text[i : i + 16])
            message = parser.finish()[1]
        else:
            message = api.parse(fmt, text, tools)
        times[size] = time.perf_counter() - start
        assert message["role"] == "assistant"
    print(json.dumps(times))
    """
)


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_one_megabyte_parses_in_linear_time(pattern):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(PATTERNS[pattern])],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    times = {int(k): v for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items()}
    small, big = times[100_000], times[1_000_000]
    assert big < 10, f"1 MB took {big:.1f} s"
    # linear: 10x the text, about 10x the time (quadratic would be 100x)
    assert big < 30 * small + 0.5, f"100 KB {small:.2f} s, 1 MB {big:.2f} s"
