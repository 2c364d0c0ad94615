"""The call blocks in a syntax of their own: special tools (raw code, NAME.call(...)) and the
envelope (the whole output one JSON object); a mixin of `blocks.Block`."""

from __future__ import annotations

import json

from ..spec.shape import SpecialShape
from .calls import Fail, dumps, parse_python_call
from .json_reader import JsonReader, skip_ws
from .python_call import PythonCallReader
from .reader import _ANY_WS, Steps, TextReader


class SpecialBlocks(TextReader):
    """Raw code, NAME.call(...) and envelope readers (they use `Block`'s call readers)."""

    def raw(self, special: SpecialShape, name: str) -> Steps:
        """Raw code to the tool's end text, one of its stops, or the end of the output; a JSON
        object holding the tool's argument is taken as the arguments. Returns (index, text)."""
        buf_start = self.pos
        yield from self.ws()
        if (yield from self.peek()) == "{":
            start = self.pos
            reader = JsonReader(start)
            try:
                yield from self.value(reader)
                obj = json.loads(self.buf[start : self.pos])
            except Fail:
                obj = None
            if isinstance(obj, dict) and special.argument in obj:
                text = self.buf[start : self.pos]
                if special.close:
                    yield from self.lit(special.close)
                return self.sink.call_head(name, None), text
            self.pos = buf_start
        terminators = (special.close,) if special.close else special.stops
        code_end, end = yield from self.s.until(self.pos, terminators)
        code = self.buf[self.pos : code_end].strip()
        self.pos = end
        return self.sink.call_head(name, None), dumps({special.argument: code})

    def special(self, specials: tuple[SpecialShape, ...]) -> Steps:
        """A special tool's own opener at pos: raw code, or NAME.call(...)."""
        first = specials[0]
        yield from self.lit(first.open)
        if first.body == "raw":
            names = [n for s in specials for n in s.names if self.s.allowed(n)]
            if not names:
                raise Fail
            index, arguments = yield from self.raw(first, names[0])
            self.sink.call_done(index, arguments)
            self.last_end = self.pos
            return
        yield from self.gap(first.open_gap)
        if (yield from self.peek()) == "{" and self.c.body == "json":
            index, arguments = yield from self.json_call()  # a normal call after the marker
        else:
            start = self.pos
            yield from self.value(PythonCallReader(start))
            parsed = parse_python_call(self.buf[start : self.pos])
            if parsed is None:
                raise Fail
            name, values = parsed
            if not any(name in s.names for s in specials) or not self.s.allowed(name):
                raise Fail
            index, arguments = self.sink.call_head(name, None), dumps(values)
            if first.close:
                try:
                    yield from self.gap(first.close_gap)
                    yield from self.lit(first.close)
                except BaseException:
                    self.sink.call_abandon(index)
                    raise
        self.sink.call_done(index, arguments)
        self.last_end = self.pos
        yield from self._stop(first)

    def _stop(self, special: SpecialShape) -> Steps:
        """A generation stop right after the call (kept in the text by some callers) is part of it."""
        for stop in special.stops:
            matched = yield from self.probe([_ANY_WS, stop])
            if matched:
                self.pos = skip_ws(self.buf, self.pos)
                self.pos += len(stop)
                self.last_end = self.pos
                return

    # .. the whole output as one JSON object (envelope formats)

    def envelope(self) -> Steps:
        """{"tool_calls": [CALL, ...]}, {"tool_call": CALL} and/or {"response": "text"}; any other
        key makes it not the envelope. The reply text is held for the scanner (`held_content`)."""
        env = self.c.envelope
        yield from self.lit("{")
        yield from self.ws()
        seen: set[str] = set()
        while True:
            key = yield from self._string_value()
            if key in seen:
                raise Fail
            seen.add(key)
            yield from self.ws()
            yield from self.lit(":")
            yield from self.ws()
            if key == env.calls_key:
                yield from self.array()
            elif key == env.call_key:
                left = self._calls_left()
                if left is not None and left <= 0:
                    raise Fail
                index, arguments = yield from self.json_call()
                self.sink.call_done(index, arguments)
                self.last_end = self.pos
            elif key == env.content_key:
                text = yield from self._string_value()
                if not isinstance(text, str):
                    raise Fail
                self.held_content = text
            else:
                raise Fail
            if not (yield from self.next_member("}")):
                break
        if self.last_end is None:
            if self.held_content is None:
                raise Fail
            # a reply without calls is the envelope only when nothing but whitespace follows
            yield from self.ws()
            if self.pos < len(self.buf):
                raise Fail
        self.last_end = self.pos

