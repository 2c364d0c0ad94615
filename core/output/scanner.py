"""The resumable left-to-right scanner behind `parse_output` and `StreamParser`.

One scanner does the work for both the whole-text parser (one pass with ``final=True``) and the
streaming parser (which feeds pieces and asks it to advance as far as the text decides). Because
both use the same decisions, the streamed deltas add up to exactly what `parse_output` returns.

Reasoning is recognised at the start of the output; a reasoning block that is never closed ends at
its first well-formed call block (everything is reasoning when there is none). A candidate call
that does not parse (bad JSON, missing end marker, unknown tool when `tools` is given, more than
max_calls) stays content and scanning goes on right after its opening marker.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ..spec import Spec
from ..spec.shape import compile_shape
from .blocks import BlockReader
from .calls import Call, Fail, IdFactory, Need, holdback, tool_names
from .events import Events
from .json_extent import DECODER

_ANY_WS = re.compile(r"\s*")

_START, _REASONING, _BODY_INIT, _ENVELOPE, _PLAIN, _NORMAL, _DONE = range(7)


class Scanner(BlockReader):
    """Resumable scanner over model output.

    Use: `feed(text)` appends output; `advance(final)` consumes as much as the text decides
    (final=True: the output is complete, everything is decided); `events` lists what was decided,
    in output order; `finish()` flushes at the end; `message()` is the assistant message;
    `give_up()` passes the undecided rest through as content (after an internal error).
    """

    def __init__(
        self,
        spec: Spec,
        tools: Optional[list[dict[str, Any]]],
        in_reasoning: bool,
        id_factory: Optional[IdFactory],
    ) -> None:
        self.c = compile_shape(spec)
        self.names = tool_names(tools)
        self.in_reasoning = in_reasoning
        self.out = Events(self.c.content_encoding, self.c.id_style, id_factory)
        self.buf = ""
        self.pos = 0
        self.state = _START
        self._rscan = 0  # where the search for the reasoning end marker resumes
        self._oscan = 0  # where the search for a call opener inside reasoning resumes
        self._rhold: Optional[int] = None  # first call opener inside the reasoning block
        self._implicit_end = 0
        self._anchor_pending = self.c.anchored
        self._json = {}
        self._one = {}
        self._seq = {}
        self._scan_from = {}

    @property
    def events(self) -> list[tuple[str, Any]]:
        """("content" | "reasoning" | "call", value) in output order; only ever appended to."""
        return self.out.items

    def finish(self) -> None:
        """Flush what the end of the output decides (call after `advance(True)`)."""
        self.out.finish()

    def message(self) -> dict[str, Any]:
        """The assistant message made of the events (after `finish`)."""
        return self.out.message()

    def give_up(self) -> None:
        """Pass the undecided rest of the output through as content."""
        if self.pos < len(self.buf):
            self.out.passthrough(self.buf[self.pos :])
            self.pos = len(self.buf)

    # -- input -------------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Append a piece of output (nothing is decided before `advance`)."""
        # Drop text that is decided, so appending stays cheap on long outputs.
        if self.pos > 4096 and self.pos * 2 > len(self.buf):
            cut = self.pos
            self.buf = self.buf[cut:]
            self.pos = 0
            self._rscan = max(0, self._rscan - cut)
            self._oscan = max(0, self._oscan - cut)
            if self._rhold is not None:
                self._rhold -= cut
            self._implicit_end = max(0, self._implicit_end - cut)
            self._json.clear()
            self._one.clear()
            self._seq.clear()
            self._scan_from.clear()
        # Append through a local that holds the only reference, so CPython can grow the string
        # in place instead of copying the whole buffer for every piece.
        buf = self.buf
        self.buf = ""
        buf += text
        self.buf = buf

    # -- the state machine -------------------------------------------------------------------

    def advance(self, final: bool) -> None:
        c = self.c
        while True:
            buf = self.buf
            if self.state == _START:
                if c.reasoning is None:
                    self.state = _BODY_INIT
                    continue
                begin = c.reasoning[0]
                i = _ANY_WS.match(buf, self.pos).end()
                if buf.startswith(begin, i):
                    self.pos = self._rscan = self._oscan = i + len(begin)
                    self.state = _REASONING
                elif not final and len(buf) - i < len(begin) and begin.startswith(buf[i:]):
                    return  # may still become the reasoning marker
                elif self.in_reasoning:
                    self.state = _REASONING
                    self._rscan = self._oscan = self.pos
                else:
                    self.state = _BODY_INIT
            elif self.state == _REASONING:
                if not self._reasoning(final):
                    return
                self.out.end_reasoning()
                self.state = _BODY_INIT
            elif self.state == _BODY_INIT:
                if c.implicit_prefix:
                    # Parse as if the output started with the prefix the prompt ended with.
                    self.buf = buf[: self.pos] + c.implicit_prefix + buf[self.pos :]
                    self._implicit_end = self.pos + len(c.implicit_prefix)
                    self._json.clear()
                    self._one.clear()
                    self._seq.clear()
                    self._scan_from.clear()
                self.state = _ENVELOPE if c.envelope is not None else _NORMAL
            elif self.state == _ENVELOPE:
                i = _ANY_WS.match(buf, self.pos).end()
                if i == len(buf) and not final:
                    return
                if i == len(buf) or buf[i] != "{":
                    self.state = _PLAIN
                    continue
                if not final:
                    return  # the whole output must be one JSON object
                self._envelope(i)
                return
            elif self.state == _PLAIN:
                self._range(self.pos, len(buf))
                self.pos = len(buf)
                return
            elif self.state == _NORMAL:
                self._normal(final)
                return
            else:
                return

    def _envelope(self, i: int) -> None:
        buf = self.buf
        env = self.c.envelope
        result = None
        try:
            obj, end = DECODER.raw_decode(buf, i)
        except ValueError:
            obj, end = None, 0
        if isinstance(obj, dict) and not buf[end:].strip():
            try:
                calls: list[Call] = []
                if env.calls_key in obj and isinstance(obj[env.calls_key], list):
                    calls = [self._json_call(item) for item in obj[env.calls_key]]
                    if not calls:
                        raise Fail
                elif env.call_key in obj:
                    calls = [self._json_call(obj[env.call_key])]
                text = obj.get(env.content_key)
                if text is not None and not isinstance(text, str):
                    raise Fail
                if not calls and text is None:
                    raise Fail
                if self.c.max_calls is not None and len(calls) > self.c.max_calls:
                    raise Fail
                result = (text, calls)
            except Fail:
                result = None
        if result is None:
            self.state = _PLAIN
            self.advance(True)
            return
        text, calls = result
        if text:
            self.out.content(text)
        if calls:
            self.out.removed()
            self.out.add_calls(calls)
        self.pos = len(buf)
        self.state = _DONE

    def _reasoning(self, final: bool) -> bool:
        """Consume reasoning; True once the block is over (closed, or decided at the end).

        A block never closed ends at its first well-formed tool-call block (models that forget
        the end marker and call a tool): text from the first call opener on is held back until
        the end marker shows up (then it was reasoning after all) or the output ends.
        """
        c = self.c
        buf = self.buf
        end = c.reasoning[1]
        e = buf.find(end, self._rscan)
        if e < 0:
            self._rscan = max(self._rscan, len(buf) - len(end) + 1)
        if self._rhold is None and c.call_openers is not None:
            m = c.call_openers.search(buf, self._oscan, e if e >= 0 else len(buf))
            if m is not None:
                self._rhold = m.start()
            else:
                self._oscan = max(self._oscan, len(buf) - max(map(len, c.call_opener_cores)) + 1)
        if e >= 0:
            self.out.reason(buf[self.pos : e])
            self.pos = e + len(end)
            return True
        if not final:
            upto = len(buf) - holdback(buf, self.pos, (end, *c.call_opener_cores))
            if self._rhold is not None:
                upto = min(upto, self._rhold)
            if upto > self.pos:
                self.out.reason(buf[self.pos : upto])
                self.pos = upto
            return False
        start = self._first_block(self._rhold) if self._rhold is not None else None
        if start is None:
            self.out.reason(buf[self.pos :])
            self.pos = len(buf)
        else:
            self.out.reason(buf[self.pos : start])
            self.pos = start
        return True

    def _first_block(self, i: int) -> Optional[int]:
        """Where the first well-formed call block at or after i starts (end of output known)."""
        buf = self.buf
        while True:
            m = self.c.call_openers.search(buf, i)
            if m is None:
                return None
            try:
                self._block(m, True)
                return m.start()
            except Fail:
                i = m.end()


    def _normal(self, final: bool) -> None:
        c = self.c
        while True:
            buf = self.buf
            if self._anchor_pending:
                i = _ANY_WS.match(buf, self.pos).end()
                if i == len(buf) and not final:
                    return
                try:
                    end, calls = self._anchored_block(i, final)
                except Need:
                    return
                except Fail:
                    self._anchor_pending = False
                    continue
                self._anchor_pending = False
                self._range(self.pos, i)
                self.out.removed()
                self.out.add_calls(calls)
                self.pos = end
                continue
            m = c.openers.search(buf, self.pos) if c.openers is not None else None
            if m is None:
                upto = len(buf) if final else len(buf) - holdback(buf, self.pos, c.opener_cores)
                self._range(self.pos, upto)
                self.pos = upto
                return
            q = m.start()
            if not final and m.end() == len(buf):
                # The next character may still change the match (word boundary, longer marker).
                self._range(self.pos, q)
                self.pos = q
                return
            kind, payload = c.opener_kinds[m.lastgroup]
            if kind == "content":
                self._range(self.pos, q)
                self.out.removed()
                self.pos = m.end()
                continue
            try:
                end, calls = self._block(m, final)
            except Need:
                self._range(self.pos, q)
                self.pos = q
                return
            except Fail:
                self._range(self.pos, m.end())
                self.pos = m.end()
                continue
            self._range(self.pos, q)
            self.out.removed()
            self.out.add_calls(calls)
            self.pos = end


    def _range(self, a: int, b: int) -> None:
        a = max(a, self._implicit_end)
        if a < b:
            self.out.content(self.buf[a:b])

