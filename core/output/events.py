"""The scanner's output, in output order: content, reasoning and calls, with the message rules.

Content rules: whitespace touching a removed block (reasoning, call, content marker) is dropped;
separate pieces of content keep the whitespace that separated them; content written as a JSON
string (`content_encoding: json_string`) is decoded per segment. Reasoning: leading and trailing
whitespace dropped.

A call is announced as soon as its name is known and validated ("head": its index and id, from the
output, else `id_factory`, else the spec's id style), its arguments follow as the model writes them
("args"), and it ends as a complete call ("call") or, when its text stops being a call, abandoned
("abandon": the message leaves it out; its text is content again).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from .calls import IdFactory, new_call_id


class Events:
    """What the scanner decided so far, as (kind, value) items: ("content", text),
    ("reasoning", text), ("head", (index, id, name)), ("args", (index, text)), ("call", OpenAI
    tool call) and ("abandon", index)."""

    def __init__(self, content_encoding: str, id_style: str, id_factory: Optional[IdFactory]) -> None:
        self.content_encoding = content_encoding
        self.id_style = id_style
        self.id_factory = id_factory
        self.items: list[tuple[str, Any]] = []
        self.n_calls = 0  # complete calls
        self.n_heads = 0  # announced calls (complete, abandoned or open)
        self._open: dict[int, list[Any]] = {}  # index -> [id, name, arguments characters sent]
        self._in_block = False
        # content
        self._lstrip = False
        self._pending_ws: list[str] = []  # trailing whitespace, kept unless a block follows
        self._lead_ws: list[str] = []  # whitespace stripped after a block
        self._joiner: Optional[str] = None  # whitespace before the last removed block
        self._has_content = False
        self._segment_raw: list[str] = []
        # reasoning
        self._r_started = False
        self._r_pending: list[str] = []

    def reason(self, text: str) -> None:
        if not self._r_started:
            text = text.lstrip()
            if not text:
                return
            self._r_started = True
        core = text.rstrip()
        if core:
            out = core
            if self._r_pending:
                out = "".join(self._r_pending) + core
                self._r_pending = []
            self.items.append(("reasoning", out))
            if len(core) < len(text):
                self._r_pending.append(text[len(core) - len(text) :])
        elif text:
            self._r_pending.append(text)

    def content(self, text: str) -> None:
        if self.content_encoding == "json_string":
            self._segment_raw.append(text)
        else:
            self._emit_content(text)

    def _emit_content(self, text: str) -> None:
        if self._lstrip:
            core = text.lstrip()
            if len(core) < len(text):
                self._lead_ws.append(text[: len(text) - len(core)])
            if not core:
                return
            text = core
            self._lstrip = False
        core = text.rstrip()
        if core:
            out = core
            if self._pending_ws:
                out = "".join(self._pending_ws) + out
                self._pending_ws = []
            if self._joiner is not None:
                # Between two pieces of content keep the whitespace that separated them.
                if self._has_content:
                    out = (self._joiner or "".join(self._lead_ws)) + out
                self._joiner = None
                self._lead_ws = []
            self._has_content = True
            self.items.append(("content", out))
            if len(core) < len(text):
                self._pending_ws.append(text[len(core) - len(text) :])
        elif text:
            self._pending_ws.append(text)

    def _end_segment(self) -> None:
        if self._segment_raw:
            raw = "".join(self._segment_raw)
            self._segment_raw = []
            stripped = raw.strip()
            if stripped.startswith('"'):
                try:
                    decoded = json.loads(stripped)
                except ValueError:
                    decoded = None
                if isinstance(decoded, str):  # keep the whitespace around the JSON string
                    lead = len(raw) - len(raw.lstrip())
                    raw = raw[:lead] + decoded + raw[lead + len(stripped) :]
            self._emit_content(raw)

    def removed(self) -> None:
        """A block (reasoning, call, content marker) was cut out: whitespace touching it goes."""
        self._end_segment()
        if self._joiner is None:
            self._joiner = "".join(self._pending_ws)
            self._lead_ws = []
        self._pending_ws = []
        self._lstrip = True

    def end_reasoning(self) -> None:
        """The reasoning block is over: its trailing whitespace goes, like any block's."""
        self._r_pending = []
        self.removed()

    def passthrough(self, text: str) -> None:
        """Text added as content verbatim (after the scanner gave up)."""
        self.items.append(("content", text))

    def finish(self) -> None:
        """Flush what the end of the output decides (trailing whitespace is not next to a block)."""
        self._end_segment()
        if self._pending_ws:
            self.items.append(("content", "".join(self._pending_ws)))
            self._pending_ws = []

    # -- calls ---------------------------------------------------------------------------------

    def call_head(self, name: str, call_id: Optional[str]) -> int:
        """Announce a call; returns its index (its position among the announced calls)."""
        if not self._in_block:
            self.removed()  # the block is cut out: whitespace touching it goes
            self._in_block = True
        index = self.n_heads
        if call_id is None:
            call_id = self.id_factory(index) if self.id_factory else new_call_id(self.id_style, index)
        self.items.append(("head", (index, call_id, name)))
        self._open[index] = [call_id, name, 0]
        self.n_heads += 1
        return index

    def call_args(self, index: int, text: str) -> None:
        """More of the arguments text of an announced call."""
        if text:
            self.items.append(("args", (index, text)))
            self._open[index][2] += len(text)

    def call_done(self, index: int, arguments: str) -> None:
        """The call is complete; `arguments` is its whole arguments string (the streamed text is
        always a prefix of it)."""
        call_id, name, sent = self._open[index]
        self.call_args(index, arguments[sent:])
        del self._open[index]
        self.items.append(
            ("call", {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
        )
        self.n_calls += 1

    def end_block(self) -> None:
        """The call block being read is over (the next call opens a new one)."""
        self._in_block = False

    def abandon_open(self) -> None:
        """Every announced call not yet complete is abandoned (the rest of the text is content)."""
        for index in list(self._open):
            self.call_abandon(index)

    def call_abandon(self, index: int) -> None:
        """An announced call turned out not to be one (its text is content)."""
        self._open.pop(index, None)
        self.items.append(("abandon", index))

    def message(self) -> dict[str, Any]:
        content: list[str] = []
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        for kind, value in self.items:
            if kind == "content":
                content.append(value)
            elif kind == "reasoning":
                reasoning.append(value)
            elif kind == "call":
                calls.append(value)
        text = "".join(content)
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if calls:
            message["tool_calls"] = calls
        return message

