"""The tool-call shape and the reasoning markers of a template, inferred from its probe deltas."""

from __future__ import annotations

from typing import Any, Optional

from .markers import (
    common_prefix,
    common_suffix,
    find_json_call,
    find_name_call,
    first_marker,
    json_objects,
    last_marker,
    marker_end,
    marker_start,
)
from .probes import ALPHA, ARGS_A, ARGS_B, BETA, CONTENT, ID_A, REASONING, REASONING_FIELDS, Prober, calls_message


def infer_reasoning(prober: Prober, as_string: bool, empty: Any, inputs: dict[str, Any], notes: list[str], evidence: dict[str, Any]) -> Optional[dict[str, str]]:
    """Reasoning markers from a message that carries reasoning (in the fields templates read)."""
    for field_name in REASONING_FIELDS:
        for with_call in (False, True):
            message = (
                calls_message([(ALPHA, ARGS_A, ID_A)], as_string, empty)
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
            end = first_marker(end)
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
                    {**calls_message([(ALPHA, ARGS_A, ID_A)], as_string, empty), field_name: REASONING},
                )
                if call_got and REASONING in call_got[0]:
                    evidence["reasoning_call_delta"] = call_got[0]
            return {"begin": last_marker(begin), "end": end}
    source = prober.source
    if "</think>" in source:
        notes.append(
            "the template drops reasoning from the history but mentions </think>: reasoning "
            "<think>...</think> taken from the source"
        )
        return {"begin": "<think>", "end": "</think>"}
    notes.append("no reasoning markers found (the template shows no reasoning_content)")
    return None




def infer_shape(d1: str, d2: Optional[str], notes: list[str], evidence: dict[str, Any]) -> Optional[dict[str, Any]]:
    """section/call markers, separator and body from the one-call and two-call deltas."""
    first = find_json_call(d1, ALPHA, ARGS_A) or find_name_call(d1, ALPHA, ARGS_A)
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
        for i, end, value in json_objects(d1):
            if isinstance(value, list) and i < first.start and end >= first.end and any(
                isinstance(v, dict) and ALPHA in v.values() for v in value
            ):
                tc["array"] = True
                tc["section"] = {"begin": d1[:i].lstrip() if d1[:i].strip() else "", "end": d1[end:].strip()}
                if d1[:i] != d1[:i].lstrip():
                    tc["section"]["begin"] = d1[:i]  # a leading space that belongs (Firefunction)
                if d2 is not None:
                    arrays = [v for _, _, v in json_objects(d2) if isinstance(v, list)]
                    if not any(len(v) == 2 for v in arrays):
                        notes.append("two calls are not two elements of one array")
                evidence["shape"] = "array"
                return tc

    if d2 is None:
        tc["section"] = {"begin": pre, "end": post}
        evidence["shape"] = "single"
        return tc
    finder = find_json_call if first.body == "json" else find_name_call
    a = finder(d2, ALPHA, ARGS_A)
    b = finder(d2, BETA, ARGS_B, a.end) if a else None
    if a is None or b is None:
        notes.append("the two-call delta does not hold both calls in the same shape")
        tc["section"] = {"begin": pre, "end": post}
        tc["max_calls"] = 1
        return tc
    pre2, between, post2 = d2[: a.start], d2[a.end: b.start], d2[b.end:]
    call_begin = marker_start(common_suffix(pre2, between))
    rest = between[: len(between) - len(call_begin)]
    call_end = marker_end(common_prefix(rest, post2))
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


