"""What `formats check` verifies for one format: template, examples, triggers, markers.

Every problem names the spec file's `file:line:col: field:` when the format came from a file
(`chatformats.spec.locate`), else the plugin it came from. Spec files are untrusted: templates
render in the sandbox, and trigger regexes are run on the examples there, under its time limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..hooks import Format, Registry, api
from ..llama import GrammarError, check_trigger_pattern, plan_rejection
from ..llama.triggers import to_python_regex
from ..prompt import TemplateError, sandbox
from ..spec import locate
from .tiny_model import tiny_vocab


@dataclass(frozen=True)
class CheckProblem:
    format: str
    where: str  # the spec file, or the plugin's origin
    message: str
    field: str = ""
    line: int = 0  # 1-based position in `where` (0: not a file)
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.where}:{self.line}:{self.column}: {self.field or self.format}: {self.message}"
        field = f"{self.field}: " if self.field else ""
        return f"{self.where}: {self.format}: {field}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "where": self.where,
            "field": self.field,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


def _field(loc: Iterable[Any]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else ("." if out else "") + str(key)
    return out


def problem(fmt: Format, loc: tuple[Any, ...], message: str) -> CheckProblem:
    """A problem at field `loc` of the format's spec (positioned when it came from a file)."""
    line = column = 0
    if fmt.path:
        line, column = locate(fmt.path, loc)
    return CheckProblem(fmt.spec.name, fmt.path or fmt.origin, message, _field(loc), line, column)


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def comparable(message: dict[str, Any], with_ids: bool = True) -> dict[str, Any]:
    """A message reduced to what a round trip must preserve (arguments compared as JSON values)."""
    calls = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function", call)
        entry = {"name": fn.get("name"), "arguments": _arguments(fn.get("arguments"))}
        if with_ids and call.get("id") is not None:
            entry["id"] = call["id"]
        calls.append(entry)
    return {
        "content": message.get("content") or None,
        "reasoning_content": message.get("reasoning_content") or None,
        "tool_calls": calls,
    }


def messages_match(parsed: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Does `parsed` carry what `expected` says? Ids are compared only where expected names them."""
    want = comparable(expected)
    got = comparable(parsed)
    for g, w in zip(got["tool_calls"], want["tool_calls"]):
        if "id" not in w:
            g.pop("id", None)
    return got == want


def example_tools(fmt: Format, names: Optional[list[str]] = None) -> list[dict[str, Any]]:
    tools = [dict(t) for t in fmt.spec.example_tools]
    if names is not None:
        tools = [t for t in tools if t.get("function", {}).get("name") in names]
    return tools


def sample_request(fmt: Format) -> dict[str, Any]:
    """A conversation with a call and its result, to render a format's own template."""
    tools = example_tools(fmt)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ]
    if tools:
        fn = tools[0]["function"]
        args = {k: "x" for k in (fn.get("parameters") or {}).get("properties", {})}
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_12345",
                        "type": "function",
                        "function": {"name": fn["name"], "arguments": json.dumps(args)},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_12345", "content": "42"},
        ]
    return {"messages": messages, "tools": tools or None}


PLAIN_TEMPLATE = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"


def check_template(fmt: Format, registry: Optional[Registry] = None) -> list[CheckProblem]:
    spec = fmt.spec
    if spec.inputs.template is None and spec.system_prompt is None:
        return []
    loc = ("inputs", "template") if spec.inputs.template is not None else ("system_prompt",)
    # A spec with only a system prompt is rendered through a plain template that shows every turn.
    template = spec.inputs.template or PLAIN_TEMPLATE
    try:
        prompt = api.render(fmt, sample_request(fmt), template, registry=registry)
    except Exception as exc:  # report, never crash the checker
        return [problem(fmt, loc, f"does not render: {exc}")]
    if not prompt:
        return [problem(fmt, loc, "renders to an empty prompt")]
    return []


def _message_problems(message: Any) -> list[tuple[tuple[Any, ...], str]]:
    """What is wrong with an example's expected message, as (field below it, message)."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for key in ("content", "reasoning_content"):
        if message.get(key) is not None and not isinstance(message[key], str):
            found.append(((key,), "must be a string or null"))
    calls = message.get("tool_calls")
    if calls is None:
        return found
    if not isinstance(calls, list):
        return found + [(("tool_calls",), "must be a list of {name, arguments, id?}")]
    for i, call in enumerate(calls):
        if not isinstance(call, dict):
            found.append((("tool_calls", i), "must be a mapping {name, arguments, id?}"))
            continue
        fn = call.get("function", call)
        where = ("tool_calls", i) + (("function",) if "function" in call else ())
        if not isinstance(fn, dict):
            found.append((where, "must be a mapping {name, arguments}"))
            continue
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            found.append((where + ("name",), "must be a non-empty string"))
        arguments = _arguments(fn.get("arguments", {}))
        if not isinstance(arguments, dict):
            found.append((where + ("arguments",), "must be a mapping (or a JSON object as a string)"))
        if call.get("id") is not None and not isinstance(call["id"], str):
            found.append((("tool_calls", i, "id"), "must be a string"))
    return found


def _trigger_patterns(fmt: Format) -> list[tuple[tuple[Any, ...], str]]:
    triggers = fmt.spec.triggers
    return [(("triggers", kind, i), p) for kind in ("patterns", "patterns_full") for i, p in enumerate(getattr(triggers, kind))]


def check_triggers(fmt: Format) -> tuple[list[CheckProblem], bool]:
    """Bad trigger regexes, regexes that outlast the time limit on an example (catastrophic
    backtracking), and triggers that fire on no example with calls. Also says whether the
    examples are safe to run through the trigger emulation."""
    spec = fmt.spec
    problems: list[CheckProblem] = []
    safe = True
    with_calls = [e for e in spec.examples if isinstance(e.message.get("tool_calls"), list) and e.message["tool_calls"]]
    for loc, pattern in _trigger_patterns(fmt):
        try:
            check_trigger_pattern(pattern)
            regex = to_python_regex(pattern).pattern.decode("utf-8")
        except GrammarError as exc:
            problems.append(problem(fmt, loc, str(exc)))
            safe = False
            continue
        fired = False
        for example in spec.examples:
            try:
                hit = sandbox.regex_search(regex, example.output, f"{_field(loc)}")
            except TemplateError as exc:
                problems.append(problem(fmt, loc, f"on example {example.name!r}: {exc.message} (catastrophic backtracking?)"))
                safe = False
                break
            fired = fired or (hit is not None and example in with_calls)
        if safe and with_calls and not fired:
            problems.append(problem(fmt, loc, "fires on no example that has tool calls"))
    for kind in ("words", "tokens"):
        for i, word in enumerate(getattr(spec.triggers, kind)):
            if with_calls and not any(word in e.output for e in with_calls):
                problems.append(problem(fmt, ("triggers", kind, i), f"{word!r} fires on no example that has tool calls"))
    return problems, safe


def check_markers(fmt: Format) -> list[CheckProblem]:
    """Markers that work against each other: a stop marker inside a tool-call marker (generation
    would stop in the call), reasoning that opens like a call."""
    spec = fmt.spec
    tc = spec.tool_calls
    markers = {
        ("tool_calls", "section", "begin"): tc.section.begin,
        ("tool_calls", "call", "begin"): tc.call.begin,
        ("tool_calls", "call", "end"): tc.call.end,
        ("tool_calls", "separator"): tc.separator,
    }
    problems = []
    for i, stop in enumerate(spec.stop):
        for loc, marker in markers.items():
            if stop.strip() and marker and stop.strip() in marker:
                problems.append(problem(fmt, ("stop", i), f"{stop!r} is inside {_field(loc)} {marker!r}: generation would stop in a call"))
    if spec.reasoning is not None:
        opener = (tc.section.begin or tc.call.begin).strip()
        if opener and spec.reasoning.begin.strip() == opener:
            problems.append(problem(fmt, ("reasoning", "begin"), f"{opener!r} also opens tool calls"))
    return problems


def check_examples(fmt: Format, registry: Optional[Registry] = None, *, run_triggers: bool = True) -> list[CheckProblem]:
    spec = fmt.spec
    problems = []
    for index, example in enumerate(spec.examples):
        loc = ("examples", index)
        malformed = _message_problems(example.message)
        if malformed:
            problems += [problem(fmt, loc + ("message",) + below, text) for below, text in malformed]
            continue
        tools = example_tools(fmt, example.tools)
        try:
            parsed = api.parse(fmt, example.output, tools, registry=registry)
        except Exception as exc:
            problems.append(problem(fmt, loc, f"example {example.name!r}: parser raised {type(exc).__name__}: {exc}"))
            continue
        if not messages_match(parsed, example.message):
            problems.append(
                problem(
                    fmt,
                    loc,
                    f"example {example.name!r} parses to {json.dumps(comparable(parsed), ensure_ascii=False)}, "
                    f"expected {json.dumps(comparable(example.message), ensure_ascii=False)}",
                )
            )
            continue
        if not example.message.get("tool_calls") or not tools or not run_triggers:
            continue
        parallel = len(example.message["tool_calls"]) > 1
        try:
            plan = api.plan(fmt, tools, "auto", parallel_tool_calls=parallel, registry=registry)
        except Exception as exc:
            problems.append(problem(fmt, loc, f"example {example.name!r}: grammar: {exc}"))
            continue
        if plan is None:
            problems.append(problem(fmt, loc, f"example {example.name!r}: no grammar for a request with tools"))
            continue
        why = plan_rejection(plan, example.output, vocab=tiny_vocab())
        if why:
            problems.append(problem(fmt, loc + ("output",), f"example {example.name!r}: {why}"))
    return problems


def check_format(fmt: Format, registry: Optional[Registry] = None) -> list[CheckProblem]:
    """Every problem found in one loaded format (hooks from `registry`, default the process's)."""
    triggers, safe = check_triggers(fmt)
    return (
        check_template(fmt, registry)
        + triggers
        + check_markers(fmt)
        + check_examples(fmt, registry, run_triggers=safe)
    )
