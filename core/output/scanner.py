"""The resumable left-to-right scanner behind `parse_output` and `StreamParser`.

One scanner does the work for both the whole-text parser (one pass with ``final=True``) and the
streaming parser (which feeds pieces and asks it to advance as far as the text decides). Both make
the same decisions, so a stream's final message is exactly what `parse_output` returns.

Reasoning is recognised at the start of the output; a reasoning block that is never closed ends at
its first call block with a complete call (everything is reasoning when there is none). Where an
opener matches, a `blocks.Block` reads the calls; text that is not a complete call stays content
and scanning goes on right after its opening marker. Every step is linear in the text: each
position is searched once, a call block fails at its first character that cannot continue it,
and decided text is dropped from the buffer.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ..spec import Spec
from ..spec.shape import compile_shape
from .blocks import Block
from .calls import IdFactory, holdback, tool_names
from .events import Events

_ANY_WS = re.compile(r"\s*")

_START, _REASONING, _BODY_INIT, _ENVELOPE, _PLAIN, _NORMAL, _DONE = range(7)


class _Recorder:
    """Counts the call events of a trial block (inside a reasoning block never closed): the block
    is read for real once it is known to hold a complete call."""

    def __init__(self, out: Events) -> None:
        self.n_calls = out.n_calls
        self.n_heads = out.n_heads

    def call_head(self, name: str, call_id: Optional[str]) -> int:
        self.n_heads += 1
        return self.n_heads - 1

    def call_args(self, index: int, text: str) -> None:
        pass

    def call_done(self, index: int, arguments: str) -> None:
        self.n_calls += 1

    def call_abandon(self, index: int) -> None:
        pass


class Scanner:
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
        calls: bool = True,
    ) -> None:
        self.c = compile_shape(spec)
        self.calls = calls  # False: a reply in a response_format (reasoning, then plain content)
        self.names = tool_names(tools)
        # the offered names, longest first (a call names the longest one its text starts with)
        self.names_by_length = None if self.names is None else sorted(self.names, key=lambda n: (-len(n), n))
        self.in_reasoning = in_reasoning
        self.out = Events(self.c.content_encoding, self.c.id_style, id_factory)
        self.buf = ""
        self.pos = 0
        self.final = False
        self.state = _START
        self.block: Optional[Block] = None
        self.block_start = 0
        self.block_kind = ""
        self.block_opener_end = 0
        self._ws_end = 0  # how far leading whitespace was scanned (never rescanned)
        self._rscan = 0  # where the search for the reasoning end marker resumes
        self._oscan = 0  # where the search for a call opener inside reasoning resumes
        self._rhold: Optional[int] = None  # first call opener inside the reasoning block
        self._implicit_end = 0
        self._anchor_pending = self.c.anchored
        self._terms: dict[str, tuple[int, int]] = {}  # terminator -> (searched from, found at or -1)

    @property
    def events(self) -> list[tuple[str, Any]]:
        """What was decided, in output order; only ever appended to (see `Events`)."""
        return self.out.items

    def finish(self) -> None:
        """Flush what the end of the output decides (call after `advance(True)`)."""
        self.out.finish()

    def message(self) -> dict[str, Any]:
        """The assistant message made of the events (after `finish`)."""
        return self.out.message()

    def give_up(self) -> None:
        """Pass the undecided rest of the output through as content."""
        if self.block is not None:
            self.pos = self.block_start
            self.block = None
        self.out.abandon_open()
        if self.pos < len(self.buf):
            self.out.passthrough(self.buf[max(self.pos, self._implicit_end) :])
            self.pos = len(self.buf)
        self.state = _DONE

    def allowed(self, name: str) -> bool:
        return self.names is None or name in self.names

    # -- input -------------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Append a piece of output (nothing is decided before `advance`)."""
        # Drop text that is decided, so appending stays cheap on long outputs (never while a
        # block is read: it holds positions).
        if self.block is None and self.pos > 4096 and self.pos * 2 > len(self.buf):
            self._cut(self.pos)
        # Append through a local that holds the only reference, so CPython can grow the string
        # in place instead of copying the whole buffer for every piece.
        buf = self.buf
        self.buf = ""
        buf += text
        self.buf = buf

    def _cut(self, cut: int) -> None:
        self.buf = self.buf[cut:]
        self.pos -= cut
        self._ws_end = max(0, self._ws_end - cut)
        self._rscan = max(0, self._rscan - cut)
        self._oscan = max(0, self._oscan - cut)
        if self._rhold is not None:
            self._rhold -= cut
        self._implicit_end = max(0, self._implicit_end - cut)
        self._terms = {t: (max(0, a - cut), b - cut if b >= 0 else -1) for t, (a, b) in self._terms.items()}

    def until(self, start: int, terminators: tuple[str, ...]):
        """(where raw text from `start` ends, where its terminator ends): the first terminator at
        or after `start`, else the end of the output (waits while it may still come)."""
        while True:
            best: Optional[tuple[int, str]] = None
            for term in terminators:
                searched, found = self._terms.get(term, (0, -1))
                if found < start:
                    if searched < start:
                        searched = start
                    found = self.buf.find(term, searched)
                    searched = max(searched, len(self.buf) - len(term) + 1)
                    self._terms[term] = (searched, found)
                if found >= start and (best is None or found < best[0]):
                    best = (found, term)
            if best is not None:
                return best[0], best[0] + len(best[1])
            if self.final:
                return len(self.buf), len(self.buf)
            yield

    # -- the state machine -------------------------------------------------------------------

    def advance(self, final: bool) -> None:
        self.final = final
        c = self.c
        while True:
            buf = self.buf
            if self.state == _START:
                if c.reasoning is None:
                    self.state = _BODY_INIT
                    continue
                begin = c.reasoning[0]
                i = self._leading_ws()
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
                if not self.calls:
                    self.state = _PLAIN
                    continue
                if c.implicit_prefix:
                    # Parse as if the output started with the prefix the prompt ended with.
                    self.buf = buf[: self.pos] + c.implicit_prefix + buf[self.pos :]
                    self._implicit_end = self.pos + len(c.implicit_prefix)
                    self._terms.clear()
                self._ws_end = self.pos
                self.state = _ENVELOPE if c.envelope is not None else _NORMAL
            elif self.state == _ENVELOPE:
                self._envelope()
                return
            elif self.state == _PLAIN:
                self._range(self.pos, len(buf))
                self.pos = len(buf)
                return
            elif self.state == _NORMAL:
                self._normal()
                return
            else:
                return

    def _leading_ws(self) -> int:
        """The end of the whitespace at pos (each character looked at once while streaming)."""
        self._ws_end = _ANY_WS.match(self.buf, max(self._ws_end, self.pos)).end()
        return self._ws_end

    def _envelope(self) -> None:
        if self.block is None:
            i = self._leading_ws()
            if i == len(self.buf) and not self.final:
                return
            if i == len(self.buf) or self.buf[i] != "{":
                self.state = _PLAIN
                self.advance(self.final)
                return
            self._start_block(i, "envelope", None, i)
        status, value = self.block.step()
        if status == "need":
            return
        block, self.block = self.block, None
        if status == "fail":
            self.state = _PLAIN
            self.advance(self.final)
            return
        end, _ = value
        self.out.removed()
        if block.held_content is not None:
            self.out.content(block.held_content)
        self.out.end_block()
        self.pos = end
        self.state = _PLAIN
        self.advance(self.final)

    def _reasoning(self, final: bool) -> bool:
        """Consume reasoning; True once the block is over (closed, or decided at the end).

        A block never closed ends at its first call block with a complete call (models that
        forget the end marker and call a tool): text from the first call opener on is held back
        until the end marker shows up (then it was reasoning after all) or the output ends.
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
        """Where the first call block with a complete call at or after i starts (output complete)."""
        buf = self.buf
        while True:
            m = self.c.call_openers.search(buf, i)
            if m is None:
                return None
            kind, payload = self.c.opener_kinds[m.lastgroup]
            trial = Block(self, m.start(), kind, payload, _Recorder(self.out))
            status, _ = trial.step()
            if status == "done":
                return m.start()
            i = m.end()

    def _start_block(self, q: int, kind: str, payload: Any, opener_end: int) -> None:
        self.block = Block(self, q, kind, payload, self.out)
        self.block_start, self.block_kind, self.block_opener_end = q, kind, opener_end

    def _normal(self) -> None:
        c = self.c
        while True:
            buf = self.buf
            if self.block is not None:
                status, value = self.block.step()
                if status == "need":
                    return
                self.block = None
                self.out.end_block()
                q = self.block_start
                if status == "fail":
                    if self.block_kind == "anchored":
                        self._anchor_pending = False
                        continue
                    self._range(q, self.block_opener_end)
                    self.pos = self.block_opener_end
                    continue
                end, skip = value
                self._anchor_pending = False
                self.pos = end
                if skip is not None and skip > end:
                    self._range(end, skip)
                    self.pos = skip
                continue
            if self._anchor_pending:
                i = self._leading_ws()
                if i == len(buf) and not self.final:
                    return
                self._range(self.pos, i)
                self.pos = i
                self._start_block(i, "anchored", None, i)
                continue
            m = c.openers.search(buf, self.pos) if c.openers is not None else None
            if m is None:
                upto = len(buf) if self.final else len(buf) - holdback(buf, self.pos, c.opener_cores)
                self._range(self.pos, upto)
                self.pos = max(self.pos, upto)
                return
            q = m.start()
            if not self.final and (m.end() == len(buf) or self._longer_opener_may_follow(q, m.end() - q)):
                # The next characters may still change the match (word boundary, longer marker).
                self._range(self.pos, q)
                self.pos = q
                return
            kind, payload = c.opener_kinds[m.lastgroup]
            self._range(self.pos, q)
            self.pos = q
            if kind == "content":
                self.out.removed()
                self.pos = m.end()
                continue
            self._start_block(q, kind, payload, m.end())

    def _longer_opener_may_follow(self, q: int, length: int) -> bool:
        rest = self.buf[q : q + max(map(len, self.c.opener_cores))]
        return any(len(core) > length and len(rest) < len(core) and core.startswith(rest) for core in self.c.opener_cores)

    def _range(self, a: int, b: int) -> None:
        a = max(a, self._implicit_end)
        if a < b:
            self.out.content(self.buf[a:b])
