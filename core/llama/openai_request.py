"""The OpenAI chat-completion body -> what ChatModel needs, with errors a client can act on.

Optional fields may be null (as OpenAI accepts); numbers must be numbers of the right kind
(`max_tokens: 2.0` is refused with the field named), finite, and in range.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from ..prompt import RequestError

# field -> (kind, low, high)
_NUMBERS: dict[str, tuple[type, float, float]] = {
    "max_tokens": (int, 1, 1 << 20),
    "max_completion_tokens": (int, 1, 1 << 20),
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "top_k": (int, 0, 1 << 20),
    "seed": (int, -(1 << 63), (1 << 64) - 1),
    "n": (int, 1, 1),
}


def _number(body: dict[str, Any], name: str) -> Optional[float]:
    value = body.get(name)
    if value is None:
        return None
    kind, low, high = _NUMBERS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"`{name}` must be {'an integer' if kind is int else 'a number'}, got {json.dumps(value)}")
    if kind is int and not isinstance(value, int):
        raise RequestError(f"`{name}` must be an integer, got {value!r} (write {int(value)} if that is what you mean)" if float(value).is_integer() else f"`{name}` must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise RequestError(f"`{name}` must be a finite number")
    if not low <= value <= high:
        if name == "n":
            raise RequestError("only `n: 1` is supported")
        raise RequestError(f"`{name}` must be between {low:g} and {high:g}, got {value!r}")
    return value


@dataclass
class ChatRequest:
    """A validated body: what prepare() and the sampler take."""

    messages: Any
    tools: Any
    tool_choice: Any
    parallel_tool_calls: Any
    stop: Optional[list[str]]
    stream: bool
    include_usage: bool
    response_format: Optional[dict[str, Any]] = None
    sampling: dict[str, Any] = field(default_factory=dict)


def chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    sampling: dict[str, Any] = {}
    for name in ("temperature", "top_p", "top_k", "seed"):
        value = _number(body, name)
        if value is not None:
            sampling[name] = value
    _number(body, "n")
    limit = _number(body, "max_completion_tokens")
    if limit is None:
        limit = _number(body, "max_tokens")
    if limit is not None:
        sampling["max_tokens"] = int(limit)
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise RequestError("`stop` must be a string or a list of strings")
    stream = body.get("stream")
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise RequestError("`stream` must be true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError('`stream_options` must be an object such as {"include_usage": true}')
    include_usage = bool((options or {}).get("include_usage"))
    if options and not stream:
        raise RequestError("`stream_options` is only allowed with `stream: true`")
    return ChatRequest(
        messages=body.get("messages"),
        tools=body.get("tools"),
        tool_choice=body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
        parallel_tool_calls=body.get("parallel_tool_calls") if body.get("parallel_tool_calls") is not None else True,
        stop=stop,
        stream=stream,
        include_usage=include_usage,
        response_format=body.get("response_format"),
        sampling=sampling,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_body(raw: bytes, max_depth: int = 64) -> Any:
    """JSON body -> value; ValueError with a message for invalid JSON, NaN/Infinity or nesting
    deeper than `max_depth` (templates and validation recurse: a client must not reach the limit)."""
    try:
        text = raw.decode("utf-8")  # JSON bodies are UTF-8 (json.loads would guess UTF-16 from a BOM)
    except UnicodeDecodeError as exc:
        raise ValueError(f"the request body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"the request body nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise ValueError(f"the request body is not valid JSON: {exc}") from None
    if _too_deep(value, max_depth):
        raise ValueError(f"the request body nests deeper than {max_depth} levels")
    return value
