"""Calls written in a format's own wire shape: what a model of the format would emit.

The history writer (templates that cannot show tool calls) and the tests use it; it writes the
spec's markers as given, so the grammar accepts its output and the parser reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Optional

from .model import Spec
from .shape import Shape, SpecialShape, compile_shape

# (id, name, arguments) of one call
WrittenCall = tuple[str, str, dict[str, Any]]


def json_text(value: Any) -> str:
    """JSON as a grammar-constrained model writes it: non-ASCII kept, DEL escaped (the grammar's
    strings hold no raw control characters)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def python_literal(value: Any) -> str:
    """A JSON value as a Python literal (True/False/None), for NAME.call(k=v) bodies."""
    if value is True:
        return "True"
    if value is False:
        return "False"
    if value is None:
        return "None"
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json_text(str(k))}: {python_literal(v)}" for k, v in value.items()) + "}"
    return json_text(value)


def _special_for(shape: Shape, name: str) -> Optional[SpecialShape]:
    return next((s for s in shape.specials if name in s.names), None)


def _call_object(shape: Shape, call: WrittenCall) -> dict[str, Any]:
    call_id, name, arguments = call
    jb = shape.json_body
    obj: dict[str, Any] = {jb.name_key: name, jb.arguments_key: arguments}
    if shape.id_key and shape.ids_written:
        obj[shape.id_key] = call_id
    return obj


def _one_call(shape: Shape, call: WrittenCall) -> str:
    _, name, arguments = call
    special = _special_for(shape, name)
    if special is not None and special.body == "raw" and isinstance(arguments.get(special.argument), str):
        code = arguments[special.argument]
        if special.open:
            return (special.tool.begin or "") + code + special.tool.end
        return shape.call_open.text + name + shape.suffix.text + code
    if special is not None and special.body == "python_call" and special.open:
        kwargs = ", ".join(f"{k}={python_literal(v)}" for k, v in arguments.items())
        return f"{special.tool.begin or ''}{name}.call({kwargs}){special.tool.end}"
    if shape.body == "name":
        body = name + shape.suffix.text + json_text(arguments)
    else:
        body = json_text(_call_object(shape, call))
    return shape.call_open.text + body + shape.call_close.text


def write_calls(
    spec: Spec | Shape,
    calls: Sequence[WrittenCall],
    content: Optional[str] = None,
    *,
    omit_implicit_prefix: bool = False,
) -> str:
    """`content` then `calls` as the format writes them (the whole reply for envelope formats).

    `omit_implicit_prefix`: leave out the text the generation prompt already ends with (what the
    model itself emits after such a prompt).
    """
    shape = spec if isinstance(spec, Shape) else compile_shape(spec)
    if shape.envelope is not None:
        env = shape.envelope
        objects = [_call_object(shape, c) for c in calls]
        body: dict[str, Any] = {}
        if len(objects) == 1:
            body[env.call_key] = objects[0]
        elif objects:
            body[env.calls_key] = objects
        if content or not objects:
            body[env.content_key] = content or ""
        return json_text(body)
    if not calls:
        return content or ""
    if shape.array:
        objects = [_call_object(shape, c) for c in calls]
        text = shape.section_open.text + json_text(objects) + shape.section_close.text
    else:
        text = shape.section_open.text + shape.separator.text.join(_one_call(shape, c) for c in calls)
        text += shape.section_close.text
    if omit_implicit_prefix and shape.implicit_prefix and text.startswith(shape.implicit_prefix) and not content:
        text = text[len(shape.implicit_prefix) :]
    return (content or "") + text
