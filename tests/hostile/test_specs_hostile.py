"""Hostile spec files: `formats check FILE` ends in seconds, within its memory bounds, and names
every problem as `file:line:col: field: message`. Real subprocesses, default limits."""

from __future__ import annotations

import re

import pytest
from hostile_run import bounded, run_all

BASE = """spec_version: 1
name: hostile
tool_calls:
  section: {begin: "<tool_call>", end: "</tool_call>"}
example_tools:
  - {type: function, function: {name: f, parameters: {type: object, properties: {a: {type: string}}}}}
"""


def example(name: str, output: str, message: str) -> str:
    return f"examples:\n  - name: {name}\n    output: {output}\n    message: {message}\n"


CALL = example("call", '"<tool_call>{\\"name\\": \\"f\\", \\"arguments\\": {\\"a\\": \\"x\\"}}</tool_call>"', "{tool_calls: [{name: f, arguments: {a: x}}]}")
LAUGHS = "lol: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)

# name -> (file text, (line, column, what the problem says) expected among the problems)
SPECS = {
    "billion laughs": (BASE + LAUGHS, (8, 12, "YAML aliases (*a0) are not allowed")),
    "merge key": (BASE + "base: &b {arguments: object}\ninputs: {<<: *b}\n", (8, 14, "aliases (*b) are not allowed")),
    "NUL byte": (BASE + "description: a\x00b\n", (7, 15, "control character U+0000")),
    "escaped NUL": (BASE + 'stop: ["a\\0b"]\n', (7, 8, "stop[0]: control character U+0000 in a string")),
    "escape character": (BASE + "description: \x1b[31mred\n", (7, 14, "control character U+001B")),
    "5000-digit integer": (BASE + "detect: {priority: " + "9" * 5000 + "}\n", (7, 20, "an integer of 5000 digits")),
    "deep nesting": (BASE + "description: " + "[" * 5000 + "]" * 5000 + "\n", (7, 77, "nested too deeply")),
    "huge file": (BASE + "description: '" + "x" * (2 << 20) + "'\n", (1, 1, "larger than 1 MiB")),
    "not a mapping": ("- a\n- b\n", (1, 1, "must be a YAML mapping")),
    "malformed example message": (
        BASE + example("bad", "x", "{content: 7, tool_calls: [5, {name: 3}, {name: f, arguments: [1]}]}"),
        (10, 64, "examples[0].message.tool_calls[2].arguments: must be a mapping"),
    ),
    "example message not a list": (
        BASE + example("bad", "x", "{tool_calls: {name: f}}"),
        (10, 15, "examples[0].message.tool_calls: must be a list"),
    ),
    "bad trigger regex": (BASE + 'triggers:\n  patterns: ["(?P<x>a)", "a{"]\n', (8, 26, "triggers.patterns[1]: trigger pattern 'a{'")),
    "catastrophic backtracking": (
        BASE + 'triggers:\n  patterns: ["(a+)+$"]\n' + example("slow", f'"{"a" * 40}!"', f'{{content: "{"a" * 40}!"}}'),
        (8, 14, "triggers.patterns[0]: on example 'slow': matching exceeded the 5 s time limit"),
    ),
    "hostile inputs.template": (
        BASE + "inputs:\n  template: '{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}'\n",
        (8, 13, "inputs.template: does not render: hostile:inputs.template: rendering exceeded the"),
    ),
    "hostile system_prompt": (
        BASE + "system_prompt: '{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}'\n",
        (7, 16, "system_prompt: does not render: hostile:system_prompt: rendering exceeded the 5 s time limit"),
    ),
    "hostile inputs.variables": (
        BASE + "inputs:\n  template: '{{ x }}'\n  variables: {x: \"'%999999999s'|format('x')\"}\n",
        (8, 13, "inputs.variables.x: evaluating exceeded the 256 MB memory limit"),
    ),
    "stop inside a call marker": (
        BASE + 'stop: ["<tool_call>"]\n' + CALL,
        (7, 8, "stop[0]: '<tool_call>' is inside tool_calls.section.begin"),
    ),
    "trigger that never fires": (
        BASE + 'triggers:\n  words: ["NEVER"]\n' + CALL,
        (8, 11, "triggers.words[0]: 'NEVER' fires on no example that has tool calls"),
    ),
}


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-specs")
    for i, (text, _) in enumerate(SPECS.values()):
        (d / f"s{i}.yaml").write_bytes(text.encode("utf-8"))
    (d / "latin1.yaml").write_bytes(BASE.encode("utf-8") + b"description: caf\xe9\n")
    return d


def test_hostile_spec_files_end_in_seconds_with_positions(spec_dir):
    names = list(SPECS)
    runs = run_all([["check", f"s{i}.yaml"] for i in range(len(names))], cwd=str(spec_dir))
    failures = []
    for i, (name, run) in enumerate(zip(names, runs)):
        line, column, text = SPECS[name][1]
        why = bounded(run) or (None if run.returncode == 1 else "did not fail")
        where = f"s{i}.yaml:{line}:{column}: "
        if why is None and not any(p.startswith(where) and text in p for p in run.stdout.splitlines()):
            why = f"no problem {where}...{text}"
        if why:
            failures.append(f"{name}: {why}\n{run}\n{run.stdout[-800:]}")
    assert not failures, "\n\n".join(failures)


def test_every_problem_line_has_a_position(spec_dir):
    runs = run_all([["check", str(spec_dir)], ["check", "/dev/zero"], ["check", str(spec_dir / "latin1.yaml")]])
    for run in runs:
        assert bounded(run) is None and run.returncode == 1, run
        for problem in run.stdout.splitlines():
            assert re.match(r"^[^:]+:\d+:\d+: ", problem), problem
    assert "larger than 1 MiB" in runs[1].stdout
    assert "not UTF-8" in runs[2].stdout
