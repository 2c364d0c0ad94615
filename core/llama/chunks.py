"""Generation events -> OpenAI `chat.completion` / `chat.completion.chunk` dicts.

One place for both the synchronous ChatModel and the asynchronous server, so streaming and
non-streaming answers agree. The finish reason is OpenAI's ("tool_calls", "stop", "length"), or
"error" when generation could not go on (no token satisfies the grammar): that answer also
carries `chatformats.error`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Optional

NO_TOKEN = "no token the grammar allows could follow: generation stopped before the reply was complete"


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def finish_reason(engine_reason: str, message: dict[str, Any]) -> str:
    if engine_reason == "length":
        return "length"
    if engine_reason == "no_token":
        return "error"
    return "tool_calls" if message.get("tool_calls") else "stop"


class Usage:
    """Token counts of one generation, from its events."""

    def __init__(self) -> None:
        self.completion = 0
        self.evaluated = 0
        self.reused = 0
        self.reason = "stop"

    def add(self, event: Any) -> None:
        self.completion += event.n_tokens
        if event.finish_reason:
            self.reason = event.finish_reason
            self.evaluated = event.n_prompt_evaluated
            self.reused = event.n_prompt_reused

    def as_dict(self) -> dict[str, Any]:
        prompt = self.evaluated + self.reused
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.completion,
            "total_tokens": prompt + self.completion,
            "prompt_tokens_details": {"cached_tokens": self.reused},
            "prompt_tokens_evaluated": self.evaluated,
        }


class ChunkStream:
    """Feed events, get chunks: a role chunk first, deltas as the parser decides them, then the
    finish chunk (and a usage chunk with `choices: []` when `include_usage`)."""

    def __init__(self, parser: Any, model: str, *, include_usage: bool = False, extra: Optional[dict] = None) -> None:
        self.parser = parser
        self.include_usage = include_usage
        self.usage = Usage()
        self.extra = extra
        self.base = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        self.message: Optional[dict[str, Any]] = None

    def chunk(self, delta: dict[str, Any], finish: Optional[str] = None) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def start(self) -> list[dict[str, Any]]:
        return [self.chunk({"role": "assistant", "content": ""})]

    def feed(self, event: Any) -> list[dict[str, Any]]:
        self.usage.add(event)
        return [self.chunk(delta) for delta in self.parser.feed(event.text)] if event.text else []

    def finish(self) -> list[dict[str, Any]]:
        deltas, self.message = self.parser.finish()
        chunks = [self.chunk(delta) for delta in deltas]
        last = self.chunk({}, finish_reason(self.usage.reason, self.message))
        if self.usage.reason == "no_token":
            last["chatformats"] = {"error": NO_TOKEN}
        abandoned = list(getattr(self.parser, "abandoned", ()))
        if abandoned:  # calls announced before the text stopped being a call (cut by max_tokens)
            last.setdefault("chatformats", {})["abandoned_calls"] = abandoned
        if self.extra:
            last.setdefault("chatformats", {}).update(self.extra)
        chunks.append(last)
        if self.include_usage:
            chunks.append({**self.base, "choices": [], "usage": self.usage.as_dict()})
        return chunks


def completion(message: dict[str, Any], usage: Usage, model: str, extra: dict[str, Any]) -> dict[str, Any]:
    """A whole `chat.completion`."""
    info = dict(extra)
    if usage.reason == "no_token":
        info["error"] = NO_TOKEN
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(usage.reason, message)}],
        "usage": usage.as_dict(),
        "chatformats": info,
    }
