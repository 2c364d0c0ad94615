"""Incremental parsing of a streamed reply into OpenAI ``chat.completion.chunk`` deltas.

`StreamParser` drives the same resumable scanner as `chatformats.output.parse_output`, so its
final message is exactly the whole-text parse, and its deltas add up to it (content, reasoning,
call names, ids and arguments, given the same `id_factory`):

- text that may still turn out to be a marker or a call is held back until it is decided, so no
  trigger text or partial marker leaks into streamed content;
- whitespace is held back until it is known not to touch a removed block;
- a call is announced once its name is known and validated and its arguments start: a head
  delta (index, id, type, name, empty arguments); its arguments then stream as the model writes
  them (the arguments string is the model's own JSON text, so the deltas add up to it exactly).
  Arguments that are not streamed as written come in one delta when the call is complete: a JSON
  string holding the arguments (decoded), raw code and NAME.call(...) bodies (re-serialised),
  and the calls of formats whose model writes the call id after the arguments (Mistral Nemo:
  the head needs the id);
- a call whose text stops being a call after it was announced (the output ends inside it, or an
  unconstrained model writes something else) cannot be taken back: its index is listed in
  `abandoned`, the final message leaves it out and its text is content there (with
  `finish_reason: "length"` when the output was cut short).

Work per piece is proportional to the piece (the scanner and its JSON reader resume where they
stopped; decided text is dropped).
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
    :param calls: False reads no calls (a reply to a `response_format` request).
    """

    def __init__(
        self,
        spec: Spec,
        tools: Optional[list[dict[str, Any]]] = None,
        *,
        in_reasoning: bool = False,
        id_factory: Optional[IdFactory] = None,
        calls: bool = True,
    ) -> None:
        self._scanner = Scanner(spec, tools, in_reasoning, id_factory, calls)
        self._taken = 0  # events already turned into deltas
        self._finished = False
        self._broken = False
        self.abandoned: list[int] = []
        """Indices of calls announced in the deltas that turned out not to be calls (see above)."""

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
            last = deltas[-1] if deltas else None
            if kind == "head":
                index, call_id, name = value
                head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
                deltas.append({"tool_calls": [head]})
            elif kind == "args":
                index, text = value
                calls = last.get("tool_calls") if last is not None else None
                if calls and calls[-1]["index"] == index and set(calls[-1]) == {"index", "function"}:
                    calls[-1]["function"]["arguments"] += text  # one delta per run of arguments
                else:
                    deltas.append({"tool_calls": [{"index": index, "function": {"arguments": text}}]})
            elif kind == "abandon":
                self.abandoned.append(value)
            elif kind in ("content", "reasoning"):
                key = "content" if kind == "content" else "reasoning_content"
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
        self.abandoned: list[int] = []  # (it announces no call before it is complete)

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
