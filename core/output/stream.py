"""Incremental parsing of a streamed reply into OpenAI ``chat.completion.chunk`` deltas.

`StreamParser` drives the same resumable scanner as `chatformats.output.parse_output`, so the
deltas of a stream always add up to the whole-text parse (content, reasoning, call names,
arguments and ids, given the same `id_factory`):

- text that may still turn out to be a marker or a call is held back until it is decided, so no
  trigger text or partial marker leaks into streamed content;
- whitespace is held back until it is known not to touch a removed block;
- each call is sent once it is complete and validated: a head delta (index, id, type, name,
  empty arguments), then one delta with its whole arguments string (the arguments are the
  re-serialised JSON, so raw fragments of the model's text could not add up to them);
- a candidate call still open at `finish()` is decided then (content when malformed).

Work per piece is proportional to the piece plus the candidate being decided, not to the text so
far (JSON extents are tracked by a resumable scanner; decided text is dropped).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from ..spec import Spec
from .calls import IdFactory, dumps
from .scanner import Scanner

__all__ = ["StreamParser", "BufferedStreamParser", "message_deltas"]

Delta = dict[str, Any]

log = logging.getLogger(__name__)


def _call_deltas(index: int, call: dict[str, Any]) -> list[Delta]:
    fn = call.get("function") or {}
    arguments = fn.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = dumps(arguments)
    head = {
        "index": index,
        "id": call.get("id"),
        "type": "function",
        "function": {"name": fn.get("name"), "arguments": ""},
    }
    return [
        {"tool_calls": [head]},
        {"tool_calls": [{"index": index, "function": {"arguments": arguments}}]},
    ]


class StreamParser:
    """Feed generated text piece by piece; get chunk deltas back.

    :param spec: the format.
    :param tools: the request's tools (calls naming other tools stay content).
    :param in_reasoning: the prompt already opened the reasoning block.
    :param id_factory: makes the id of call number i when the output carries none.
    """

    def __init__(
        self,
        spec: Spec,
        tools: Optional[list[dict[str, Any]]] = None,
        *,
        in_reasoning: bool = False,
        id_factory: Optional[IdFactory] = None,
    ) -> None:
        self._scanner = Scanner(spec, tools, in_reasoning, id_factory)
        self._taken = 0  # events already turned into deltas
        self._calls = 0
        self._finished = False
        self._broken = False

    def feed(self, text_piece: str) -> list[Delta]:
        """Add a piece of generated text; return the deltas it decided (possibly none)."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if not text_piece:
            return []
        scanner = self._scanner
        scanner.feed(text_piece)
        if not self._broken:
            try:
                scanner.advance(False)
            except Exception:  # a parser bug must not end the stream: the rest becomes content
                self._give_up()
        else:
            self._give_up()
        return self._take()

    def finish(self) -> tuple[list[Delta], dict[str, Any]]:
        """End of output: the remaining deltas and the complete assistant message."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        scanner = self._scanner
        if not self._broken:
            try:
                scanner.advance(True)
            except Exception:
                self._give_up()
        scanner.finish()
        return self._take(), scanner.message()

    def _give_up(self) -> None:
        if not self._broken:
            log.exception("chatformats: stream parser failed; passing the rest through as content")
        self._broken = True
        self._scanner.give_up()

    def _take(self) -> list[Delta]:
        events = self._scanner.events
        deltas: list[Delta] = []
        for kind, value in events[self._taken :]:
            if kind == "call":
                deltas.extend(_call_deltas(self._calls, value))
                self._calls += 1
                continue
            key = "content" if kind == "content" else "reasoning_content"
            last = deltas[-1] if deltas else None
            if last is not None and key in last:
                last[key] += value  # one delta per run of text
            else:
                deltas.append({key: value})
        self._taken = len(events)
        return deltas


def message_deltas(message: dict[str, Any]) -> list[Delta]:
    """The deltas that stream a complete assistant message (reasoning, content, calls)."""
    deltas: list[Delta] = []
    if message.get("reasoning_content"):
        deltas.append({"reasoning_content": message["reasoning_content"]})
    if message.get("content"):
        deltas.append({"content": message["content"]})
    for index, call in enumerate(message.get("tool_calls") or []):
        deltas.extend(_call_deltas(index, call))
    return deltas


class BufferedStreamParser:
    """Streams any whole-text parser: holds all text and parses it at finish().

    For plugins that override parsing: ``BufferedStreamParser(lambda text: my_parse(text, tools))``.
    """

    def __init__(self, parse_fn: Callable[[str], dict[str, Any]]) -> None:
        self._parse = parse_fn
        self._pieces: list[str] = []
        self._finished = False

    def feed(self, text_piece: str) -> list[Delta]:
        """Hold the piece; nothing is decided before the end."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._pieces.append(text_piece)
        return []

    def finish(self) -> tuple[list[Delta], dict[str, Any]]:
        """Parse the whole text; return its deltas and the message."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        message = self._parse("".join(self._pieces))
        return message_deltas(message), message
