"""Reading one call block where an opener matched, as it streams in: a generator that yields
whenever it needs more text (the scanner resumes it when text arrives, or ends it at the end of
the output), so no text is ever read twice.

The block follows the compiled shape (`chatformats.spec.shape`) exactly as the grammar writes it:
markers literal, whitespace only in the shape's gaps. A call is announced once its name is known
and validated and its arguments start (`Events.call_head`), its arguments stream as the model
writes them, and it counts once complete (call end marker included). A block that fails keeps the
calls completed before the failure; the rest of its text is content (a section or array that is
never closed still gives its complete calls). Arguments are the model's own JSON text; a JSON
string holding the arguments is decoded to the JSON text it holds; raw code and NAME.call(...)
bodies are re-serialised (`json.dumps`), in one piece at the end of the call.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Optional

from .calls import Fail
from .json_reader import DONE, FAIL, JsonReader
from .reader import Steps, _match, strict_object_text
from .special_blocks import SpecialBlocks

if TYPE_CHECKING:
    from .scanner import Scanner

_NAME = re.compile(r"[\w.\-]{1,129}")


class Block(SpecialBlocks):
    """One call block from `start`; `step()` -> ("need", None) | ("done", (end, skip)) | ("fail", None).

    `end`: where the block's text ends (after its last complete call, or its section end);
    `skip`: a position after `end` up to which the text is plainly content (the opening marker of
    a call that failed), or None.
    """

    def __init__(self, scanner: "Scanner", start: int, kind: str, payload: Any, sink: Any) -> None:
        self.s = scanner
        self.c = scanner.c
        self.pos = start
        self.sink = sink
        self.last_end: Optional[int] = None  # after the last complete call of this block
        self.skip: Optional[int] = None
        self.n_done = 0
        self.held_content: Optional[str] = None  # an envelope's reply text (content at its end)
        self._gen = self._run(kind, payload)

    # .. names

    def _after_name(self, p: int, special: bool) -> Optional[int]:
        """Where the name suffix ends if it follows at p; -1 while undecided; None if not."""
        c, buf = self.c, self.buf
        p = _match(buf, p, [c.j_name_suffix, c.suffix.core, c.j_suffix_args], self.final)
        if p is None or p == -1 or special or c.suffix.core:
            return p
        # no suffix text: the arguments must start right here
        if p >= len(buf):
            return None if self.final else -1
        return p if buf[p] in '{"' else None

    def name(self) -> Steps:
        """The tool name (offered names, longest first; any [\\w.-] name without tools) and its
        suffix; returns the name."""
        names = self.s.names_by_length
        while True:
            buf, p = self.buf, self.pos
            if names is None:
                if p >= len(buf):
                    yield from self._more()
                    continue
                m = _NAME.match(buf, p)
                if m is None or m.end() - p > 128:
                    raise Fail
                if m.end() == len(buf) and not self.final:
                    yield
                    continue
                candidates = [m.group()]
            else:
                candidates = names
            waiting = False
            for name in candidates:
                if buf.startswith(name, p):
                    after = self._after_name(p + len(name), name in self.c.name_specials)
                    if after == -1:
                        waiting = True
                        break
                    if after is not None:
                        self.pos = after
                        return name
                elif len(buf) - p < len(name) and name.startswith(buf[p:]) and not self.final:
                    waiting = True
                    break
            if not waiting:
                raise Fail
            yield

    # .. arguments

    def arguments(self, name: str, call_id: Optional[str] = None) -> Steps:
        """Arguments at pos: a JSON object (streamed) or a JSON string holding one; announces the
        call; returns (index, arguments text)."""
        first = yield from self.peek()
        if first == "{":
            index = self.sink.call_head(name, call_id)
            text = yield from self._stream_object(index)
            return index, text
        if first == '"':
            reader = JsonReader(self.pos)
            start = self.pos
            yield from self.value(reader)
            inner = strict_object_text(json.loads(self.buf[start : self.pos]))
            if inner is None:
                raise Fail
            return self.sink.call_head(name, call_id), inner
        raise Fail

    def _stream_object(self, index: int) -> Steps:
        """Stream the object at pos to the call `index` as it is read; returns its text."""
        reader = JsonReader(self.pos)
        start = sent = self.pos
        try:
            while True:
                status = reader.advance(self.buf, self.final)
                if reader.safe > sent:
                    self.sink.call_args(index, self.buf[sent : reader.safe])
                    sent = reader.safe
                if status == DONE:
                    break
                if status == FAIL:
                    raise Fail
                yield
        except BaseException:
            self.sink.call_abandon(index)
            raise
        self.pos = reader.end
        return self.buf[start : reader.end]

    # .. calls

    def call(self, first: bool) -> Steps:
        """One call with its markers; the call open core is at pos."""
        c = self.c
        left = self._calls_left()
        if left is not None and left <= 0:
            raise Fail
        yield from self.lit(c.call_open.core)
        yield from self.gap(c.j_open_body)
        if c.body == "name":
            name = yield from self.name()
            special = c.name_specials.get(name)
            if special is not None:
                index, arguments = yield from self.raw(special, name)
                yield from self._close_call(index, arguments, closing=False)
                return
            index, arguments = yield from self.arguments(name)
        else:
            index, arguments = yield from self.json_call()
        yield from self._close_call(index, arguments)

    def _close_call(self, index: int, arguments: str, closing: bool = True) -> Steps:
        try:
            if closing:
                yield from self.gap(self.c.j_body_close)
                yield from self.lit(self.c.call_close.core)
        except BaseException:
            self.sink.call_abandon(index)
            raise
        self.sink.call_done(index, arguments)
        self.n_done += 1
        self.last_end = self.pos
        self.skip = None

    def json_call(self) -> Steps:
        """{"name": N, "arguments": {...}, ...} with exactly the keys of the call shape; returns
        (index, arguments text). The call is announced once its name (and id, when the model writes
        ids) is known and its arguments start."""
        c = self.c
        jb = c.json_body
        argument_keys = c.argument_keys()
        first = yield from self.peek()
        if first != "{":
            raise Fail
        self.pos += 1
        seen: set[str] = set()
        name: Optional[str] = None
        call_id: Optional[str] = None
        index: Optional[int] = None
        arguments: Optional[str] = None
        pending: Optional[tuple[int, int]] = None  # arguments read before the call was announced
        wait_for_id = bool(c.id_key and c.ids_written)
        try:
            yield from self.ws()
            if (yield from self.peek()) == "}":
                raise Fail
            while True:
                key_reader = JsonReader(self.pos)
                key_start = self.pos
                if (yield from self.peek()) != '"':
                    raise Fail
                yield from self.value(key_reader)
                key = json.loads(self.buf[key_start : self.pos])
                if key in seen or (key in argument_keys and seen & set(argument_keys)):
                    raise Fail  # a repeated key, or arguments under two names
                seen.add(key)
                yield from self.ws()
                yield from self.lit(":")
                yield from self.ws()
                if key == jb.name_key:
                    name = yield from self._string_value()
                    if not self.s.allowed(name):
                        raise Fail
                elif key in argument_keys:
                    if name is not None and (call_id is not None or not wait_for_id):
                        index, arguments = yield from self.arguments(name, call_id)
                    else:  # announced later, with everything read so far
                        start = self.pos
                        if (yield from self.peek()) == "{":
                            yield from self.value(JsonReader(self.pos))
                            pending = (start, self.pos)
                        else:
                            reader = JsonReader(self.pos)
                            yield from self.value(reader)
                            inner = strict_object_text(json.loads(self.buf[start : self.pos])) if self.buf[start] == '"' else None
                            if inner is None:
                                raise Fail
                            pending = (-1, -1)
                            arguments = inner
                elif c.id_key and key == c.id_key:
                    start = self.pos
                    yield from self.value(JsonReader(self.pos))
                    value = json.loads(self.buf[start : self.pos])
                    usable = isinstance(value, (str, int)) and not isinstance(value, bool) and value != ""
                    if usable and (c.ids_written or index is None):
                        call_id = str(value)
                elif key in jb.optional_fields:
                    start = self.pos
                    yield from self.value(JsonReader(self.pos))
                    if json.loads(self.buf[start : self.pos]) != jb.optional_fields[key]:
                        raise Fail
                else:
                    raise Fail  # a JSON object with other keys is data, not a call
                if index is None and name is not None and pending is not None and call_id is not None:
                    index, arguments = self._announce(name, call_id, pending, arguments)
                if not (yield from self.next_member("}")):
                    break
            if name is None or (index is None and pending is None):
                raise Fail
            if index is None:
                index, arguments = self._announce(name, call_id, pending, arguments)
        except BaseException:
            if index is not None:  # (a failure while streaming abandons the call itself)
                self.sink.call_abandon(index)
            raise
        return index, arguments

    def _announce(self, name: str, call_id: Optional[str], pending: tuple[int, int], arguments: Optional[str]):
        index = self.sink.call_head(name, call_id)
        if pending[0] >= 0:
            arguments = self.buf[pending[0] : pending[1]]
            self.sink.call_args(index, arguments)
        return index, arguments

    def _string_value(self) -> Steps:
        if (yield from self.peek()) != '"':
            raise Fail
        start = self.pos
        yield from self.value(JsonReader(self.pos))
        return json.loads(self.buf[start : self.pos])

    # .. sequences, sections, arrays

    def sequence(self) -> Steps:
        """One or more calls, `between` each two."""
        c = self.c
        b = c.between
        yield from self.call(True)
        while True:
            left = self._calls_left()
            if left is not None and left <= 0:
                return
            matched = yield from self.probe([b.lead, b.core, b.trail, c.call_open.core])
            if not matched:
                return
            restart = self.pos
            yield from self.gap(b.lead)
            yield from self.lit(b.core)
            yield from self.gap(b.trail)
            open_end = self.pos + len(c.call_open.core)
            heads = self.sink.n_heads
            try:
                yield from self.call(False)
            except Fail:
                self.pos = restart
                if self.sink.n_heads != heads:  # announced: the scanner must not read it again
                    self.skip = open_end
                    raise
                return

    def section(self) -> Steps:
        c = self.c
        yield from self.lit(c.section_open.core)
        yield from self.gap(c.j_section_call)
        if c.array:
            yield from self.array()
        else:
            yield from self.sequence()
        yield from self.section_end()

    def section_end(self) -> Steps:
        c = self.c
        if not c.section_close.core:
            return
        if (yield from self.probe([c.j_call_section, c.section_close.core])):
            yield from self.gap(c.j_call_section)
            yield from self.lit(c.section_close.core)
            self.last_end = self.pos

    def array(self) -> Steps:
        """[CALL, CALL, ...]: JSON call objects."""
        yield from self.lit("[")
        yield from self.ws()
        while True:
            left = self._calls_left()
            if left is not None and left <= 0:
                raise Fail
            index, arguments = yield from self.json_call()
            self.sink.call_done(index, arguments)
            self.n_done += 1
            self.last_end = self.pos
            if not (yield from self.next_member("]")):
                self.last_end = self.pos
                return

    def anchored(self) -> Steps:
        c = self.c
        if c.section_open.core:
            yield from self.section()
        elif c.array:
            yield from self.array()
        else:
            yield from self.sequence()

    # .. entry

    def _run(self, kind: str, payload: Any) -> Steps:
        if kind == "envelope":
            yield from self.envelope()
        elif kind == "section":
            yield from self.section()
        elif kind == "call":
            yield from self.sequence()
        elif kind == "anchored":
            yield from self.anchored()
        else:
            yield from self.special(payload)
        return (self.last_end if self.last_end is not None else self.pos), self.skip
