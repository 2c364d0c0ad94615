"""Write a spec from a chat template: render probe conversations, diff the deltas, read off markers.

The approach is the one llama.cpp's 2026 "autoparser" takes: render the template with and without
an assistant message (one call, two calls, content only, reasoning...), take the delta the model
would have had to emit (`chatformats.oracle.prompt_delta`), and compare the deltas of messages that
differ in one thing only. Whatever cannot be inferred is left at its default and said in `notes`.

Templates are untrusted and run in the sandbox (`chatformats.prompt.template`); a template that raises is
recorded in the notes, never a traceback.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from .oracle import END_OF_TURN, prompt_delta
from .spec import Spec
from .prompt.template import (
    TemplateError,
    undeclared_variables,
    compile_expression,
    compile_template,
    strftime_now,
)

__all__ = [
    "InferenceResult",
    "check_inferred",
    "infer_spec",
    "inferred_format",
    "skeleton_yaml",
    "spec_yaml",
]

ALPHA, BETA = "probe_alpha", "probe_beta"
ARGS_A = {"probe_key": "probe_value"}
ARGS_B = {"probe_key": "probe_other", "probe_num": 2}
ID_A, ID_B = "a1b2c3d4e", "f5g6h7i8j"  # 9 alphanumerics: Mistral Nemo raises on anything else
LONG_ID = "call_probe_0123456789"
CONTENT = "Probe content 42."
REASONING = "Probe reasoning 7."
USER = {"role": "user", "content": "Hello, world!"}
EOS_PROBE = "<|probe_eos|>"  # stands for the model's EOS text, which the template may print
# Markers that open the next turn: a delta is cut there too (Command R+ opens a system turn
# after a tool-call reply without closing the assistant's).
TURN_STARTS = ("<|START_OF_TURN_TOKEN|>", "<|im_start|>", "<|start_header_id|>", "<start_of_turn>", "[INST]", "<｜User｜>")
OPENERS = "<["
CLOSERS = ">]"
SYSTEM_TEXT = "PROBE_SYSTEM_TEXT"
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning", "tool_plan")
# Variables some templates read instead of (or beside) `tools`: spec expressions that supply them.
KNOWN_VARIABLES = {
    "functions": "tools | tojson(indent=2)",
    "datetime": "strftime_now('%b %d %Y %H:%M:%S GMT')",
}


def _probe_tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {
                "type": "object",
                "properties": {
                    "probe_key": {"type": "string", "description": "A text."},
                    "probe_num": {"type": "integer", "description": "A number."},
                },
                "required": ["probe_key"],
            },
        },
    }


PROBE_TOOLS = [_probe_tool(ALPHA), _probe_tool(BETA)]


@dataclass
class InferenceResult:
    """What `infer_spec` found: the spec (as data and validated), notes, and the evidence."""

    name: str
    data: dict[str, Any]
    spec: Optional[Spec]
    notes: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    shape: str = "unknown"
    shows_tool_calls: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": self.shape,
            "shows_tool_calls": self.shows_tool_calls,
            "spec": self.data,
            "notes": list(self.notes),
            "evidence": self.evidence,
        }


# --------------------------------------------------------------------------------------------
# Rendering probes
# --------------------------------------------------------------------------------------------


class _Prober:
    """Renders probe conversations with one template; remembers every failure as a note."""

    def __init__(self, source: str, notes: list[str]):
        self.source = source
        self.notes = notes
        self.template = compile_template(source, "chat_template")
        self.variables: dict[str, str] = {}
        self.errors: dict[str, str] = {}

    def context(self, messages: list[dict[str, Any]], tools: Optional[list], gen: bool, via: str = "tools") -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "messages": messages,
            "tools": tools if via == "tools" else None,
            "add_generation_prompt": gen,
            "bos_token": "",
            "eos_token": EOS_PROBE,
        }
        scope = {"tools": tools, "messages": messages, "strftime_now": strftime_now, "builtin_tool_names": []}
        for variable, expression in self.variables.items():
            ctx[variable] = compile_expression(expression, variable)(**scope)
        return ctx

    def render(self, label: str, messages: list[dict[str, Any]], tools: Optional[list] = PROBE_TOOLS, gen: bool = False) -> Optional[str]:
        try:
            return self.template.render(**self.context(messages, tools, gen))
        except TemplateError as exc:
            self.errors[label] = str(exc)
            return None

    def delta(self, label: str, message: dict[str, Any], tools: Optional[list] = PROBE_TOOLS) -> Optional[tuple[str, str]]:
        """(delta cut at the end-of-turn marker, what follows the delta) for one assistant message."""
        prefix = self.render(label + " (prompt)", [USER], tools, gen=True)
        full = self.render(label, [USER, message], tools, gen=False)
        if prefix is None or full is None:
            return None
        uncut = prompt_delta(prefix, full, ())
        cut = len(uncut)
        for marker in END_OF_TURN + (EOS_PROBE,) + TURN_STARTS:
            at = uncut.find(marker, 1 if marker in TURN_STARTS else 0)
            if at >= 0:
                cut = min(cut, at)
        return uncut[:cut], uncut[cut:]


def _call(name: str, arguments: Any, call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _calls_message(calls: list[tuple[str, dict[str, Any], str]], as_string: bool, content: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [_call(n, json.dumps(a) if as_string else dict(a), i) for n, a, i in calls],
    }


# --------------------------------------------------------------------------------------------
# Reading markers off the deltas
# --------------------------------------------------------------------------------------------


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _common_suffix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return a[len(a) - n:]


def _json_objects(text: str) -> Iterable[tuple[int, int, Any]]:
    """Every JSON value that starts at a `{` or `[` in text: (start, end, value)."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                continue
            yield i, end, value


@dataclass
class _CallSpan:
    start: int
    end: int
    body: str  # "json" or "name"
    keys: dict[str, Any] = field(default_factory=dict)
    name_suffix: str = ""
    obj: Optional[dict[str, Any]] = None


def _find_json_call(text: str, name: str, arguments: dict[str, Any], start: int = 0) -> Optional[_CallSpan]:
    """The innermost JSON object (from `start`) holding `name` as a value and the arguments."""
    best = None
    for i, end, value in _json_objects(text[start:]):
        if not isinstance(value, dict):
            continue
        if name not in value.values():
            continue
        if best is None or (end - i) < (best.end - best.start):
            best = _CallSpan(start + i, start + end, "json", obj=value)
    if best is None:
        return None
    obj = best.obj
    name_key = next(k for k, v in obj.items() if v == name)
    args_key = next((k for k, v in obj.items() if v == arguments), None)
    if args_key is None:
        # Arguments as a JSON string inside the object (a double-encoded string).
        args_key = next(
            (k for k, v in obj.items() if isinstance(v, str) and _loads(v) == arguments), None
        )
        best.keys["arguments_string"] = args_key is not None
    best.keys.update(name_key=name_key, arguments_key=args_key)
    return best


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _find_name_call(text: str, name: str, arguments: dict[str, Any], start: int = 0) -> Optional[_CallSpan]:
    """NAME, some suffix, then the JSON arguments: <function=NAME>{...} or NAME<sep>{...}."""
    at = text.find(name, start)
    if at < 0:
        return None
    after = at + len(name)
    for i, end, value in _json_objects(text[after:]):
        if value == arguments:
            return _CallSpan(at, after + end, "name", name_suffix=text[after:after + i])
    return None


def _shared_wrapper(content: str, call: str) -> str:
    """Text both a plain reply and a call reply start with, cut after its last complete marker."""
    common = _common_prefix(content, call)
    if CONTENT in common:
        return ""
    last = max(common.rfind(c) for c in CLOSERS)
    return common[: last + 1] if last >= 0 else ""


def _clean(delta: Optional[str], shared: str, reasoning: Optional[dict[str, str]]) -> Optional[str]:
    if delta is None:
        return None
    if shared and delta.startswith(shared):
        delta = delta[len(shared):]
    return _strip_empty_reasoning(delta, reasoning).lstrip("\n")


def _strip_empty_reasoning(text: str, reasoning: Optional[dict[str, str]]) -> str:
    """Drop an empty reasoning block the template writes before the calls (Command R7B)."""
    if not reasoning:
        return text
    stripped = text.lstrip()
    begin, end = reasoning["begin"], reasoning["end"]
    if stripped.startswith(begin):
        rest = stripped[len(begin):].lstrip()
        if rest.startswith(end):
            return rest[len(end):]
    return text


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def infer_spec(template_source: str, name: str) -> InferenceResult:
    """Infer a spec for the chat template `template_source` by rendering probe conversations.

    Never raises on a bad template: what failed is in `notes`. `spec` is None only when the
    inferred data does not validate (the reason is in `notes`).
    """
    notes: list[str] = []
    evidence: dict[str, Any] = {}
    data: dict[str, Any] = {"spec_version": 1, "name": name}
    result = InferenceResult(name, data, None, notes, evidence)
    try:
        prober = _Prober(template_source, notes)
        undeclared = undeclared_variables(template_source)
    except TemplateError as exc:
        notes.append(f"the template does not compile: {exc}")
        return _finish(result, tool_calls=None)

    # Variables the template reads that a spec can supply (Firefunction's functions/datetime).
    for variable, expression in KNOWN_VARIABLES.items():
        if variable in undeclared:
            prober.variables[variable] = expression
    inputs: dict[str, Any] = {}
    if prober.variables:
        inputs["variables"] = dict(prober.variables)
        notes.append(f"the template reads {', '.join(prober.variables)}: supplied by inputs.variables")

    # -- tools shown? ---------------------------------------------------------------------------
    with_tools = prober.render("tools shown", [USER], PROBE_TOOLS, gen=True)
    without = prober.render("no tools", [USER], None, gen=True)
    shows_tools = with_tools is not None and ALPHA in with_tools
    evidence["shows_tools"] = shows_tools
    if with_tools is None:
        notes.append(f"the template raises with tools: {prober.errors.get('tools shown')}")
    elif not shows_tools:
        notes.append(
            "the template does not show the tool list (neither `tools` nor `functions`): the model "
            "will not see the tools unless the spec adds inputs.template or system_prompt"
        )
    if without is None:
        notes.append(f"the template raises without tools: {prober.errors.get('no tools')}")

    # -- system role -------------------------------------------------------------------------------
    system_out = prober.render("system", [{"role": "system", "content": SYSTEM_TEXT}, USER], None, gen=True)
    if system_out is None or SYSTEM_TEXT not in system_out:
        inputs["system"] = "merge_into_first_user"
        why = "raises" if system_out is None else "drops it"
        notes.append(f"the template {why} on a system message: system: merge_into_first_user")
    evidence["system"] = "raises" if system_out is None else ("shown" if SYSTEM_TEXT in system_out else "dropped")

    # -- content only ---------------------------------------------------------------------------------
    content = prober.delta("content only", {"role": "assistant", "content": CONTENT})
    content_markers = {"begin": "", "end": ""}
    stops: list[str] = []
    if content is None:
        notes.append(f"the template raises on a plain assistant reply: {prober.errors.get('content only')}")
    else:
        delta, tail = content
        evidence["content_delta"] = delta
        at = delta.find(CONTENT)
        if at >= 0:
            content_markers = {"begin": delta[:at].strip(), "end": delta[at + len(CONTENT):].strip()}
        _add_stop(stops, tail)

    # -- arguments as string or object, content null or empty ------------------------------------
    one = [(ALPHA, ARGS_A, ID_A)]
    picked = None
    tried: list[str] = []
    for empty in (None, ""):
        for as_string in (False, True):
            label = f"one call (arguments {'string' if as_string else 'object'}, content {json.dumps(empty)})"
            got = prober.delta(label, _calls_message(one, as_string, empty))
            if got is None:
                tried.append(f"{label}: {prober.errors.get(label) or prober.errors.get(label + ' (prompt)')}")
                continue
            delta, tail = got
            if ALPHA not in delta:
                tried.append(f"{label}: the call is not rendered")
                continue
            if '\\"probe_key\\"' in delta:
                tried.append(f"{label}: double-encoded")
                continue
            if '"probe_key"' not in delta:
                tried.append(f"{label}: arguments not rendered as JSON")
                continue
            if empty is None and "None" in delta[: delta.find(ALPHA)]:
                tried.append(f"{label}: content null is printed as None")
                continue
            picked = (as_string, empty, delta, tail)
            break
        if picked:
            break
    evidence["argument_probes"] = tried
    if picked is None:
        notes.append(
            "the template cannot show a tool call in the history (" + "; ".join(tried[:4]) + ")"
        )
        data["inputs"] = inputs
        return _finish(result, tool_calls=None, content=content_markers, stops=stops)
    as_string, empty, d1, tail1 = picked
    result.shows_tool_calls = True
    inputs["arguments"] = "string" if as_string else "object"
    if empty == "":
        inputs["content_with_tool_calls"] = "empty"
        notes.append("content: null breaks the template or drops the call: content_with_tool_calls: empty")
    _add_stop(stops, tail1)
    evidence["one_call_delta"] = d1

    # -- reasoning ---------------------------------------------------------------------------------------
    reasoning = _infer_reasoning(prober, as_string, empty, inputs, notes, evidence)

    # -- ids ------------------------------------------------------------------------------------------------
    long_label = "one call with a long id"
    long_delta = prober.delta(long_label, _calls_message([(ALPHA, ARGS_A, LONG_ID)], as_string, empty))
    ids_style = "random"
    if long_delta is None and ID_A in d1:
        ids_style = "alnum9"
        notes.append(f"the template rejects ids other than 9 alphanumerics ({prober.errors.get(long_label)}): ids alnum9")

    # -- two calls ---------------------------------------------------------------------------------------------
    two = [(ALPHA, ARGS_A, ID_A), (BETA, ARGS_B, ID_B)]
    got2 = prober.delta("two calls", _calls_message(two, as_string, empty))
    d2 = None
    if got2 is None:
        notes.append(f"the template rejects two calls in one message: max_calls: 1 ({prober.errors.get('two calls')})")
    elif BETA not in got2[0]:
        notes.append("the template drops the second call: max_calls: 1")
    else:
        d2 = got2[0]
        evidence["two_calls_delta"] = d2

    # What every reply starts with is template text, not a marker of the calls (a shared
    # wrapper, an empty reasoning block): strip it so section/call begin are the call's own.
    d0 = evidence.get("content_delta")
    dr = evidence.get("reasoning_call_delta")
    shared = _shared_wrapper(d0, d1) if d0 is not None else ""
    if shared:
        notes.append(f"every reply starts with {shared!r}: treated as template text, not a marker")
    d0, d1, d2, dr = (_clean(d, shared, reasoning) for d in (d0, d1, d2, dr))
    if d0 is not None:
        at = d0.find(CONTENT)
        if at >= 0:
            content_markers = {"begin": d0[:at].strip(), "end": d0[at + len(CONTENT):].strip()}
    d1_calls, d2_calls = d1, d2
    tool_calls = _infer_shape(d1_calls, d2_calls, notes, evidence)
    if tool_calls is None:
        data["inputs"] = inputs
        return _finish(result, tool_calls=None, content=content_markers, stops=stops, reasoning=reasoning)

    # Ids carried in the JSON object: the probe id, or the call's index (Command R7B renumbers).
    span: _CallSpan = evidence.pop("_span")
    if span.obj is not None:
        for key, value in span.obj.items():
            if key in (tool_calls["json"]["name_key"], tool_calls["json"]["arguments_key"]):
                continue
            if value == ID_A:
                tool_calls["json"]["id_key"] = key
            elif value in ("0", 0) and d2 and '"1"' in d2:
                tool_calls["json"]["id_key"] = key
                ids_style = "index"
                notes.append(f"call ids are renumbered from 0 ({key}): ids index")
            elif list(span.obj).index(key) < list(span.obj).index(tool_calls["json"]["name_key"]):
                tool_calls["json"].setdefault("optional_fields", {})[key] = value
                notes.append(f"fixed field {key}={json.dumps(value)} before the name: json.optional_fields")
            else:
                notes.append(f"the call object has a field {key!r} the spec cannot express; ignored")
    if ids_style != "random":
        tool_calls["ids"] = {"style": ids_style}
    if d2 is None:
        tool_calls["max_calls"] = 1

    # Functionary v3.2: the generation prompt ends with the marker that opens the first item.
    prompt = prober.render("prompt", [USER], PROBE_TOOLS, gen=True) or ""
    sep = tool_calls.get("separator", "")
    if not tool_calls["section"]["begin"] and not tool_calls["call"]["begin"] and sep and prompt.endswith(sep):
        tool_calls["implicit_prefix"] = sep
        tool_calls["call"]["begin"] = sep
        tool_calls["separator"] = ""
        if content_markers["begin"]:
            content_markers["begin"] = sep + content_markers["begin"] + ("\n" if (d0 or "").startswith(content_markers["begin"] + "\n") else "")
        notes.append(f"the generation prompt ends with {sep!r}: implicit_prefix")
    inputs_ok = tool_calls["section"]["begin"] or tool_calls["call"]["begin"] or tool_calls.get("implicit_prefix")
    if not inputs_ok and not tool_calls.get("array"):
        tool_calls["anchored"] = True
        notes.append("no marker before the call: anchored (calls only at the start of the output)")

    data["inputs"] = inputs
    return _finish(
        result,
        tool_calls=tool_calls,
        content=content_markers,
        stops=stops,
        reasoning=reasoning,
        source=template_source,
        deltas={"content": d0, "one": d1, "two": d2, "reasoning": dr},
    )


def _add_stop(stops: list[str], tail: str) -> None:
    """The end-of-turn marker the template writes right after the assistant's reply."""
    stripped = tail.lstrip()
    for marker in END_OF_TURN:
        if stripped.startswith(marker) and marker not in stops:
            stops.append(marker)
    if stripped.startswith(EOS_PROBE) and EOS_PROBE not in stops:
        stops.append(EOS_PROBE)  # replaced by a note in _finish: the model's EOS text is unknown


def _infer_reasoning(prober: _Prober, as_string: bool, empty: Any, inputs: dict[str, Any], notes: list[str], evidence: dict[str, Any]) -> Optional[dict[str, str]]:
    """Reasoning markers from a message that carries reasoning (in the fields templates read)."""
    for field_name in REASONING_FIELDS:
        for with_call in (False, True):
            message = (
                _calls_message([(ALPHA, ARGS_A, ID_A)], as_string, empty)
                if with_call
                else {"role": "assistant", "content": CONTENT}
            )
            message[field_name] = REASONING
            label = f"reasoning in {field_name}" + (" with a call" if with_call else "")
            got = prober.delta(label, message)
            if got is None or REASONING not in got[0]:
                continue
            delta = got[0]
            at = delta.find(REASONING)
            stop_at = delta.find(ALPHA if with_call else CONTENT, at)
            begin = delta[:at].strip()
            end = delta[at + len(REASONING):stop_at].strip()
            # The end marker is what closes the block, not the call or content markers after it.
            end = _first_marker(end)
            if not begin or not end:
                continue
            evidence["reasoning_call_delta" if with_call else "reasoning_delta"] = delta
            if field_name != "reasoning_content":
                inputs["reasoning_field"] = field_name
                notes.append(f"the template reads reasoning from {field_name}: inputs.reasoning_field")
            if with_call:
                evidence["reasoning_call_delta"] = delta
            else:
                call_got = prober.delta(
                    label + " with a call",
                    {**_calls_message([(ALPHA, ARGS_A, ID_A)], as_string, empty), field_name: REASONING},
                )
                if call_got and REASONING in call_got[0]:
                    evidence["reasoning_call_delta"] = call_got[0]
            return {"begin": _last_marker(begin), "end": end}
    source = prober.source
    if "</think>" in source:
        notes.append(
            "the template drops reasoning from the history but mentions </think>: reasoning "
            "<think>...</think> taken from the source"
        )
        return {"begin": "<think>", "end": "</think>"}
    notes.append("no reasoning markers found (the template shows no reasoning_content)")
    return None


def _first_marker(text: str) -> str:
    """The first token-like piece of text: up to the first '>' or '|>' marker end, else all."""
    for closer in ("|>", "｜>", ">", "]"):
        at = text.find(closer)
        if at >= 0:
            return text[: at + len(closer)]
    return text


def _last_marker(text: str) -> str:
    """The last marker in text (what opens the reasoning, not the header before it)."""
    for opener in ("<|", "<｜", "<", "["):
        at = text.rfind(opener)
        if at >= 0:
            return text[at:]
    return text


def _infer_shape(d1: str, d2: Optional[str], notes: list[str], evidence: dict[str, Any]) -> Optional[dict[str, Any]]:
    """section/call markers, separator and body from the one-call and two-call deltas."""
    first = _find_json_call(d1, ALPHA, ARGS_A) or _find_name_call(d1, ALPHA, ARGS_A)
    if first is None:
        notes.append("the call's name and arguments were not found in the delta (not JSON?)")
        return None
    if first.body == "json" and first.keys.get("arguments_key") is None:
        notes.append("the call object holds the name but not the arguments: not a shape the spec expresses")
        return None
    if first.keys.get("arguments_string"):
        notes.append("the template writes the arguments as a JSON string inside the call object; the spec expects an object")
    evidence["_span"] = first
    tc: dict[str, Any] = {"section": {"begin": "", "end": ""}, "call": {"begin": "", "end": ""}}
    if first.body == "json":
        tc["body"] = "json"
        tc["json"] = {"name_key": first.keys["name_key"], "arguments_key": first.keys["arguments_key"]}
    else:
        tc["body"] = "name"
        tc["name"] = {"name_suffix": first.name_suffix}
    pre, post = d1[: first.start], d1[first.end:]

    # Calls as elements of one JSON array.
    if first.body == "json":
        for i, end, value in _json_objects(d1):
            if isinstance(value, list) and i < first.start and end >= first.end and any(
                isinstance(v, dict) and ALPHA in v.values() for v in value
            ):
                tc["array"] = True
                tc["section"] = {"begin": d1[:i].lstrip() if d1[:i].strip() else "", "end": d1[end:].strip()}
                if d1[:i] != d1[:i].lstrip():
                    tc["section"]["begin"] = d1[:i]  # a leading space that belongs (Firefunction)
                if d2 is not None:
                    arrays = [v for _, _, v in _json_objects(d2) if isinstance(v, list)]
                    if not any(len(v) == 2 for v in arrays):
                        notes.append("two calls are not two elements of one array")
                evidence["shape"] = "array"
                return tc

    if d2 is None:
        tc["section"] = {"begin": pre, "end": post}
        evidence["shape"] = "single"
        return tc
    finder = _find_json_call if first.body == "json" else _find_name_call
    a = finder(d2, ALPHA, ARGS_A)
    b = finder(d2, BETA, ARGS_B, a.end) if a else None
    if a is None or b is None:
        notes.append("the two-call delta does not hold both calls in the same shape")
        tc["section"] = {"begin": pre, "end": post}
        tc["max_calls"] = 1
        return tc
    pre2, between, post2 = d2[: a.start], d2[a.end: b.start], d2[b.end:]
    call_begin = _marker_start(_common_suffix(pre2, between))
    rest = between[: len(between) - len(call_begin)]
    call_end = _marker_end(_common_prefix(rest, post2))
    separator = rest[len(call_end):]
    tc["call"] = {"begin": call_begin, "end": call_end}
    tc["separator"] = separator
    tc["section"] = {"begin": pre2[: len(pre2) - len(call_begin)], "end": post2[len(call_end):]}
    if tc["section"]["end"] and post == call_end:
        tc["section_end_optional"] = True
        notes.append("a single call is left without the section end: section_end_optional")
        pre, post = pre2, post2
    if pre2 != pre or post2 != post:
        notes.append("the one-call and two-call deltas disagree around the calls; markers come from the two-call delta")
    evidence["shape"] = "blocks"
    return tc


def _marker_start(text: str) -> str:
    """Trim a common suffix that begins inside a marker ("｜><｜tool▁call▁begin｜>")."""
    if text and text[0] not in OPENERS and any(c in text for c in OPENERS):
        first = min(text.find(c) for c in OPENERS if c in text)
        if any(c in text[:first] for c in CLOSERS):
            return text[first:]
    return text


def _marker_end(text: str) -> str:
    """Trim a common prefix that ends inside a marker ("<｜tool▁call▁end")."""
    last_open = max(text.rfind(c) for c in OPENERS)
    last_close = max(text.rfind(c) for c in CLOSERS)
    if last_open > last_close:
        return text[:last_open]
    return text


def _detect_markers(source: str, tool_calls: dict[str, Any], content: dict[str, str]) -> list[str]:
    """The most distinctive marker that occurs literally in the template source."""
    candidates = [
        tool_calls.get("section", {}).get("begin", ""),
        tool_calls.get("call", {}).get("begin", ""),
        content.get("begin", ""),
        tool_calls.get("call", {}).get("end", ""),
    ]
    for raw in candidates:
        marker = raw.strip()
        while len(marker) >= 3:
            if marker in source:
                return [marker]
            marker = marker[:-1]  # "<function=" is written as '<function=' + name in the source
    return []


def _shape_name(tool_calls: Optional[dict[str, Any]]) -> str:
    if tool_calls is None:
        return "none"
    if tool_calls.get("array"):
        return f"array {tool_calls['section']['begin'].strip() or '(bare)'}[...]"
    body = tool_calls.get("body")
    marker = (tool_calls["section"]["begin"] + tool_calls["call"]["begin"]).strip()
    if tool_calls.get("anchored"):
        marker = "(anchored)"
    if body == "name":
        return f"name {marker}NAME{tool_calls['name']['name_suffix'].strip()}{{json}}"
    return f"json {marker or '(bare)'}{{{tool_calls['json']['name_key']}, {tool_calls['json']['arguments_key']}}}"


def _finish(
    result: InferenceResult,
    tool_calls: Optional[dict[str, Any]],
    content: Optional[dict[str, str]] = None,
    stops: Iterable[str] = (),
    reasoning: Optional[dict[str, str]] = None,
    source: str = "",
    deltas: Optional[dict[str, Optional[str]]] = None,
) -> InferenceResult:
    data = result.data
    result.shape = _shape_name(tool_calls)
    data["description"] = f"inferred by `formats new --from-template`: {result.shape}"
    content = content or {"begin": "", "end": ""}
    if tool_calls is None:
        # Nothing to call with: keep a spec that loads, so the author can fill it in.
        tool_calls = {"section": {"begin": "<tool_call>", "end": "</tool_call>"}, "body": "json"}
        result.notes.append("tool_calls: a placeholder (<tool_call>); write the model's real shape by hand")
    else:
        markers = _detect_markers(source, tool_calls, content)
        if markers:
            data["detect"] = {"markers": markers, "priority": 10}
        else:
            result.notes.append("no marker of the format occurs literally in the template: detect left empty")
    if content.get("begin") or content.get("end"):
        tool_calls["content"] = {k: v for k, v in content.items() if v}
    data.setdefault("inputs", {})
    data["tool_calls"] = _compact(tool_calls)
    if reasoning:
        data["reasoning"] = reasoning
    data["stop"] = [s for s in stops if s != EOS_PROBE]
    if EOS_PROBE in stops:
        result.notes.append("the template writes eos_token after the reply: add the model's EOS text to stop")
    if not data["stop"]:
        result.notes.append("no end-of-turn marker found after the reply: stop left empty (set it by hand)")
    data["example_tools"] = PROBE_TOOLS
    data["examples"] = _examples(data, deltas or {}, reasoning)
    order = ["spec_version", "name", "description", "detect", "inputs", "tool_calls", "reasoning", "stop"]
    ordered = {k: data[k] for k in order if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    data.clear()
    data.update(ordered)
    try:
        result.spec = Spec.model_validate(data)
    except Exception as exc:  # pydantic ValidationError: report, never raise
        result.notes.append(f"the inferred spec does not validate: {exc}")
        result.spec = None
    return result


def _compact(tool_calls: dict[str, Any]) -> dict[str, Any]:
    """Drop empty markers and defaults so the YAML reads like a hand-written spec."""
    out: dict[str, Any] = {}
    for key, value in tool_calls.items():
        if isinstance(value, dict) and key in ("section", "call", "content"):
            value = {k: v for k, v in value.items() if v}
            if not value:
                continue
        if key == "separator" and not value:
            continue
        out[key] = value
    return out


def _examples(data: dict[str, Any], deltas: dict[str, Optional[str]], reasoning: Optional[dict[str, str]]) -> list[dict[str, Any]]:
    """Examples made of the probe deltas, so `formats check` parses what the template renders."""
    tc = data.get("tool_calls", {})
    id_key = tc.get("json", {}).get("id_key") if tc.get("body", "json") == "json" else None
    index_ids = tc.get("ids", {}).get("style") == "index"

    def call(name: str, args: dict[str, Any], call_id: str, index: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "arguments": dict(args)}
        if id_key:
            entry["id"] = str(index) if index_ids else call_id
        return entry

    examples = []
    if deltas.get("content") and CONTENT in deltas["content"]:
        # Spaces around the reply are template layout (vLLM's "[/INST] "), not the model's text.
        examples.append({"name": "content only (probe)", "output": deltas["content"].strip(), "message": {"content": CONTENT}})
    if deltas.get("one"):
        examples.append({
            "name": "one call (probe)",
            "output": deltas["one"],
            "message": {"tool_calls": [call(ALPHA, ARGS_A, ID_A, 0)]},
        })
    if deltas.get("two"):
        examples.append({
            "name": "two calls (probe)",
            "output": deltas["two"],
            "message": {"tool_calls": [call(ALPHA, ARGS_A, ID_A, 0), call(BETA, ARGS_B, ID_B, 1)]},
        })
    if reasoning and deltas.get("reasoning"):
        examples.append({
            "name": "reasoning then call (probe)",
            "output": deltas["reasoning"],
            "message": {"reasoning_content": REASONING, "tool_calls": [call(ALPHA, ARGS_A, ID_A, 0)]},
        })
    return examples


# --------------------------------------------------------------------------------------------
# Conformance of an inferred spec
# --------------------------------------------------------------------------------------------


def inferred_format(result: InferenceResult, origin: str = "<template>"):
    """The inferred spec as a `Format` (the public functions take the hooks from the registry)."""
    from .hooks import Format

    if result.spec is None:
        raise ValueError(f"the inferred spec for {result.name} does not validate")
    return Format(result.spec, plugin="formats new", origin=origin)


def check_inferred(
    result: InferenceResult,
    template_source: str,
    *,
    template_path: Optional[str] = None,
    kinds: Iterable[str] = ("one_call", "parallel_calls", "content_only"),
    tool_choices: Iterable[str] = ("auto", "required"),
) -> list[str]:
    """Run `conformance_problems` on the inferred spec with its own template; [] means it passed."""
    from .conformance import conformance_problems

    if result.spec is None:
        return ["the inferred spec does not validate"]
    fmt = inferred_format(result, origin=template_path or "<template>")
    kinds = [k for k in kinds if k != "parallel_calls" or not result.spec.tool_calls.max_calls]
    if template_path is not None:
        return conformance_problems(fmt, [template_path], kinds, tool_choices)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "template.jinja")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(template_source)
        return conformance_problems(fmt, [path], kinds, tool_choices)


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------


def _styled(value: Any) -> Any:
    """Strings with newlines or leading/trailing spaces double-quoted, so markers stay exact."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _styled(v)
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_styled(v) for v in value)
        if all(not isinstance(v, (dict, list)) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and value and (value != value.strip() or not value.isprintable()):
        return DoubleQuotedScalarString(value)
    return value


def spec_yaml(result: InferenceResult, problems: Optional[list[str]] = None, template_label: str = "") -> str:
    """The inferred spec as YAML, with the notes (and conformance outcome) as comments on top."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_unicode = True
    yaml.width = 4096
    header = [f"Inferred by `formats new {result.name} --from-template {template_label}`.".rstrip()]
    header += [f"shape: {result.shape}"]
    header += [f"note: {n}" for n in result.notes]
    if problems is not None:
        header.append("conformance: passed" if not problems else f"conformance: {len(problems)} problem(s)")
        header += [f"  {p}" for p in problems[:20]]
    stream = io.StringIO()
    yaml.dump(_styled(result.data), stream)
    lines = []
    for line in header:
        lines += ["# " + part for part in line.splitlines()]
    return "\n".join(lines) + "\n" + stream.getvalue()


SKELETON = '''\
# A chatformats spec. Fill in the markers your model writes, then run `formats check FILE`.
# Every field is described by `formats schema`; docs/writing-a-format.md walks through each section.
spec_version: 1
name: {name}
description: "What the model writes for a tool call, in one line"
detect:
  # Strings that occur in the model's chat template (all must); higher priority wins.
  markers: ["<tool_call>"]
  priority: 10
inputs:
  # object: the template applies |tojson to the arguments; string: it concatenates a JSON string.
  arguments: object
  # native, or merge_into_first_user for templates that reject a system message.
  system: native
tool_calls:
  # One <tool_call>...</tool_call> block per call, each a JSON object {{"name", "arguments"}}.
  call: {{begin: "<tool_call>", end: "</tool_call>"}}
  separator: "\\n"
  body: json
  json: {{name_key: name, arguments_key: arguments}}
# reasoning: {{begin: "<think>", end: "</think>"}}
# End-of-turn markers that end generation.
stop: ["<|im_end|>"]
example_tools:
  - type: function
    function:
      name: get_weather
      description: Current weather for a city.
      parameters:
        type: object
        properties:
          city: {{type: string}}
        required: [city]
examples:
  - name: content only
    output: "It is sunny."
    message: {{content: "It is sunny."}}
  - name: one call
    output: "<tool_call>{{\\"name\\": \\"get_weather\\", \\"arguments\\": {{\\"city\\": \\"Paris\\"}}}}</tool_call>"
    message:
      tool_calls: [{{name: get_weather, arguments: {{city: Paris}}}}]
'''


def skeleton_yaml(name: str) -> str:
    """A commented spec skeleton that loads and passes `formats check` as written."""
    return SKELETON.format(name=name)
