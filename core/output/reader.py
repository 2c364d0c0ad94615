"""What reading a call block as it streams in rests on: the text so far, a position, and steps
that wait for more text (generators that yield) instead of reading anything twice."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Optional

from ..spec.shape import WS_CHARS, Junction
from .calls import Fail
from .json_reader import DONE, FAIL, JsonReader, skip_ws

if TYPE_CHECKING:
    from .scanner import Scanner

Steps = Generator[None, None, Any]
_GAPS: dict[Optional[int], re.Pattern] = {}


def _gap_re(size: Optional[int]) -> re.Pattern:
    found = _GAPS.get(size)
    if found is None:
        count = "*" if size is None else f"{{0,{size}}}"
        found = _GAPS[size] = re.compile(f"[{re.escape(WS_CHARS)}]{count}")
    return found


def strict_object_text(text: str) -> Optional[str]:
    """`text` stripped, when it is exactly one strict JSON object (finite numbers), else None."""
    text = text.strip(WS_CHARS)
    if not text.startswith("{"):
        return None
    reader = JsonReader(0)
    if reader.advance(text, True) != DONE or reader.end != len(text):
        return None
    return text


def _match(buf: str, p: int, pieces: list[Any], final: bool) -> Optional[int]:
    """Where `pieces` (cores and gaps, None for none) end when they match at p; None if they do
    not; -1 while the text so far cannot tell."""
    for piece in pieces:
        if piece is None or piece == "":
            continue
        if isinstance(piece, str):
            if buf.startswith(piece, p):
                p += len(piece)
                continue
            if len(buf) - p < len(piece) and piece.startswith(buf[p:]) and not final:
                return -1
            return None
        end = _gap_re(piece.max).match(buf, p).end()
        if end == len(buf) and not final:
            return -1
        p = end
    return p


class TextReader:
    """Steps over the scanner's buffer from `pos`; `final`: the output is complete."""

    s: "Scanner"
    pos: int

    @property
    def buf(self) -> str:
        return self.s.buf

    @property
    def final(self) -> bool:
        return self.s.final

    def step(self) -> tuple[str, Any]:
        try:
            next(self._gen)
            return "need", None
        except StopIteration as stop:
            return "done", stop.value
        except Fail:
            if self.last_end is not None:
                return "done", (self.last_end, self.skip)
            return "fail", None

    def _calls_left(self) -> Optional[int]:
        if self.c.max_calls is None:
            return None
        return self.c.max_calls - self.sink.n_calls

    def _more(self) -> Steps:
        """Wait for more text (Fail when the output is complete)."""
        if self.final:
            raise Fail
        yield

    def lit(self, core: str) -> Steps:
        if not core:
            return
        while True:
            buf, p = self.buf, self.pos
            if buf.startswith(core, p):
                self.pos = p + len(core)
                return
            if len(buf) - p < len(core) and core.startswith(buf[p:]):
                yield from self._more()
                continue
            raise Fail

    def gap(self, junction: Junction) -> Steps:
        if junction is None:
            return
        pattern = _gap_re(junction.max)
        while True:
            end = pattern.match(self.buf, self.pos).end()
            if end == len(self.buf) and (junction.max is None or end - self.pos < junction.max) and not self.final:
                yield
                continue
            self.pos = end
            return

    def ws(self) -> Steps:
        """JSON whitespace (unbounded here: the grammar bounds what it writes)."""
        while True:
            self.pos = skip_ws(self.buf, self.pos)
            if self.pos < len(self.buf) or self.final:
                return
            yield

    def peek(self) -> Steps:
        """The next character ("" at the end of the output)."""
        while self.pos >= len(self.buf):
            if self.final:
                return ""
            yield
        return self.buf[self.pos]

    def next_member(self, closer: str) -> Steps:
        """After a JSON member or element: True at a comma (whitespace after it skipped), False at
        `closer` (consumed); Fail otherwise."""
        yield from self.ws()
        sep = yield from self.peek()
        if sep not in (",", closer):
            raise Fail
        self.pos += 1
        if sep == ",":
            yield from self.ws()
        return sep == ","

    def probe(self, pieces: list[Any]) -> Steps:
        """Whether `pieces` (gaps and cores) match at pos, without moving (waits while undecided)."""
        while True:
            end = _match(self.buf, self.pos, pieces, self.final)
            if end != -1:
                return end is not None
            yield

    def value(self, reader: Any) -> Steps:
        """Run a value reader (JsonReader, PythonCallReader) to its end."""
        while True:
            status = reader.advance(self.buf, self.final)
            if status == DONE:
                self.pos = reader.end
                return
            if status == FAIL:
                raise Fail
            yield


class _AnyGap:
    """Whitespace of any length (parser-side only: before a generation stop)."""

    max = None


_ANY_WS = _AnyGap()
