"""Write a spec from a chat template: render probe conversations, diff the deltas, read off markers.

The approach is the one llama.cpp's 2026 "autoparser" takes: render the template with and without
an assistant message (one call, two calls, content only, reasoning...), take the delta the model
would have had to emit (`chatformats.testing.oracle.prompt_delta`), and compare the deltas of messages that
differ in one thing only. Whatever cannot be inferred is left at its default and said in `notes`.
Rendering the probes: `probes`; reading markers off the deltas: `markers`; the call shape and
reasoning: `shape`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from ..prompt.template import TemplateError, undeclared_variables
from ..spec import Spec
from ..hooks import Registry
from ..testing.oracle import known_end_of_turn
from .markers import CallSpan, clean_delta, detect_markers, shared_wrapper
from .probes import (
    ALPHA,
    ARGS_A,
    ARGS_B,
    BETA,
    CONTENT,
    EOS_PROBE,
    ID_A,
    ID_B,
    KNOWN_VARIABLES,
    LONG_ID,
    PROBE_TOOLS,
    REASONING,
    SYSTEM_TEXT,
    USER,
    Prober,
    calls_message,
)
from .shape import infer_reasoning, infer_shape


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



def infer_spec(template_source: str, name: str, registry: Optional[Registry] = None) -> InferenceResult:
    """Infer a spec for the chat template `template_source` by rendering probe conversations.

    The end-of-turn markers it knows are those of the formats in `registry` (default: the
    process's). Never raises on a bad template: what failed is in `notes`. `spec` is None only
    when the inferred data does not validate (the reason is in `notes`).
    """
    notes: list[str] = []
    evidence: dict[str, Any] = {}
    data: dict[str, Any] = {"spec_version": 1, "name": name}
    result = InferenceResult(name, data, None, notes, evidence)
    try:
        prober = Prober(template_source, notes, known_end_of_turn(registry))
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
        _add_stop(stops, tail, prober.end_of_turn)

    # -- arguments as string or object, content null or empty ------------------------------------
    one = [(ALPHA, ARGS_A, ID_A)]
    picked = None
    tried: list[str] = []
    for empty in (None, ""):
        for as_string in (False, True):
            label = f"one call (arguments {'string' if as_string else 'object'}, content {json.dumps(empty)})"
            got = prober.delta(label, calls_message(one, as_string, empty))
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
    _add_stop(stops, tail1, prober.end_of_turn)
    evidence["one_call_delta"] = d1

    # -- reasoning ---------------------------------------------------------------------------------------
    reasoning = infer_reasoning(prober, as_string, empty, inputs, notes, evidence)

    # -- ids ------------------------------------------------------------------------------------------------
    long_label = "one call with a long id"
    long_delta = prober.delta(long_label, calls_message([(ALPHA, ARGS_A, LONG_ID)], as_string, empty))
    ids_style = "random"
    if long_delta is None and ID_A in d1:
        ids_style = "alnum9"
        notes.append(f"the template rejects ids other than 9 alphanumerics ({prober.errors.get(long_label)}): ids alnum9")

    # -- two calls ---------------------------------------------------------------------------------------------
    two = [(ALPHA, ARGS_A, ID_A), (BETA, ARGS_B, ID_B)]
    got2 = prober.delta("two calls", calls_message(two, as_string, empty))
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
    shared = shared_wrapper(d0, d1) if d0 is not None else ""
    if shared:
        notes.append(f"every reply starts with {shared!r}: treated as template text, not a marker")
    d0, d1, d2, dr = (clean_delta(d, shared, reasoning) for d in (d0, d1, d2, dr))
    if d0 is not None:
        at = d0.find(CONTENT)
        if at >= 0:
            content_markers = {"begin": d0[:at].strip(), "end": d0[at + len(CONTENT):].strip()}
    d1_calls, d2_calls = d1, d2
    tool_calls = infer_shape(d1_calls, d2_calls, notes, evidence)
    if tool_calls is None:
        data["inputs"] = inputs
        return _finish(result, tool_calls=None, content=content_markers, stops=stops, reasoning=reasoning)

    # Ids carried in the JSON object: the probe id, or the call's index (Command R7B renumbers).
    span: CallSpan = evidence.pop("_span")
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


def _add_stop(stops: list[str], tail: str, end_of_turn: tuple[str, ...]) -> None:
    """The end-of-turn marker the template writes right after the assistant's reply."""
    stripped = tail.lstrip()
    for marker in end_of_turn:
        if stripped.startswith(marker) and marker not in stops:
            stops.append(marker)
    if stripped.startswith(EOS_PROBE) and EOS_PROBE not in stops:
        stops.append(EOS_PROBE)  # replaced by a note in _finish: the model's EOS text is unknown



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
        markers = detect_markers(source, tool_calls, content)
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

