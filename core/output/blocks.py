"""Reading one call block at a position of the scanner's buffer (a mixin of `scanner.Scanner`).

Each reader returns the end position (and the calls read), or raises `Need` (more text could
change the decision; only while streaming) or `Fail` (not a well-formed block: its text stays
content). Markers match with flexible whitespace at their edges; a call is a JSON object with
exactly the keys of the call shape (name, arguments, id, optional fields), arguments being an
object or a JSON string holding one. Special tools: `raw` bodies run to the tool's `end` (or its
`stop` markers, or the end of output); `python_call` bodies need a `begin` marker.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ..spec import SpecialTool
from ..spec.shape import CompiledShape, Marker, marker
from .calls import Call, Fail, Need, as_arguments, dumps, parse_python_call
from .events import Events
from .json_extent import DECODER, JsonExtent

# Flexible whitespace before a marker is capped so a retry never rescans an unbounded run.
_WS_CAP = 256
_NAME_CAP = 128
_WS = re.compile(r"\s{0,%d}" % _WS_CAP)
_NAME = re.compile(r"[\w.\-]{1,%d}" % (_NAME_CAP + 1))
_WORD = re.compile(r"\w")
_ARGUMENT_KEYS = ("arguments", "parameters")


class BlockReader:
    """Call-block readers over `self.buf`; the scanner provides the state they read."""

    buf: str
    c: CompiledShape
    names: Optional[frozenset[str]]
    out: Events
    _json: dict[int, Any]  # start -> JsonExtent | (value, end) | False
    _one: dict[int, tuple[int, Call]]  # start -> parsed single call
    _seq: dict[int, list[Any]]  # start -> [end, calls] of a sequence parsed so far
    _scan_from: dict[int, int]  # raw body start -> where the terminator search resumes

    def _block(self, m: re.Match, final: bool) -> tuple[int, list[Call]]:
        """Parse the call block whose opener `m` matched."""
        kind, payload = self.c.opener_kinds[m.lastgroup]
        left = self._calls_left()
        if left is not None and left <= 0:
            raise Fail
        q = m.start()
        if kind == "section":
            return self._section(q, final)
        if kind == "call":
            end, call = self._single(q, final)
            return end, [call]
        return self._special(q, payload, final)

    def _calls_left(self) -> Optional[int]:
        if self.c.max_calls is None:
            return None
        return self.c.max_calls - self.out.n_calls


    def _ws(self, i: int, final: bool) -> int:
        j = _WS.match(self.buf, i).end()
        if j == len(self.buf) and not final:
            raise Need
        return j

    def _lit(self, i: int, marker: Optional[Marker], final: bool) -> int:
        if marker is None:
            return i
        buf = self.buf
        i = self._ws(i, final)
        core = marker.core
        if buf.startswith(core, i):
            j = i + len(core)
        elif not final and len(buf) - i < len(core) and core.startswith(buf[i:]):
            raise Need
        else:
            raise Fail
        if marker.boundary:
            if j == len(buf):
                if not final:
                    raise Need
            elif _WORD.match(buf[j]):
                raise Fail
        return j

    def _json_at(self, i: int, final: bool, opener: str = "{") -> tuple[Any, int]:
        buf = self.buf
        i = self._ws(i, final)
        if i >= len(buf) or buf[i] not in opener:
            raise Fail
        entry = self._json.get(i)
        if entry is None:
            if final:
                try:
                    entry = DECODER.raw_decode(buf, i)
                except (ValueError, RecursionError):
                    entry = False
                self._json[i] = entry
            else:
                entry = self._json[i] = JsonExtent(i)
        if isinstance(entry, JsonExtent):
            end = entry.advance(buf) if not final else None
            if end is None and not final:
                raise Need
            try:
                entry = DECODER.raw_decode(buf, i)
            except (ValueError, RecursionError):
                entry = False
            self._json[i] = entry
        if entry is False:
            raise Fail
        return entry

    def _allowed(self, name: str) -> bool:
        return self.names is None or name in self.names

    def _json_call(self, obj: Any) -> Call:
        if not isinstance(obj, dict):
            raise Fail
        jb = self.c.json_body
        name = obj.get(jb.name_key)
        if not isinstance(name, str) or not self._allowed(name):
            raise Fail
        if jb.arguments_key in obj:
            arguments = obj[jb.arguments_key]
        else:
            key = next((k for k in _ARGUMENT_KEYS if k in obj), None)
            if key is None or jb.arguments_key not in _ARGUMENT_KEYS:
                raise Fail
            arguments = obj[key]
        for key, value in jb.optional_fields.items():
            if key in obj and obj[key] != value:
                raise Fail
        # Only the keys of the call shape: a JSON object with other keys is data, not a call.
        allowed = {jb.name_key, jb.arguments_key, *_ARGUMENT_KEYS, *jb.optional_fields}
        if jb.id_key:
            allowed.add(jb.id_key)
        if not allowed.issuperset(obj):
            raise Fail
        call_id = obj.get(jb.id_key) if jb.id_key else None
        if isinstance(call_id, bool) or not isinstance(call_id, (str, int)) or call_id == "":
            call_id = None
        return name, dumps(as_arguments(arguments)), None if call_id is None else str(call_id)

    def _name_call(self, i: int, final: bool) -> tuple[int, Call]:
        """NAME suffix {json} [call end], or a raw special tool in the name position."""
        c = self.c
        buf = self.buf
        i = self._ws(i, final)
        m = _NAME.match(buf, i)
        if m is None or m.end() - i > _NAME_CAP:
            raise Fail
        if m.end() == len(buf) and not final:
            raise Need
        name = m.group()
        if not self._allowed(name):
            raise Fail
        special = c.name_specials.get(name)
        if special is not None:
            j = m.end()
            if c.name_suffix is not None:
                j = self._lit(j, c.name_suffix, final)
                if buf.startswith(c.name_suffix.trail, j):
                    j += len(c.name_suffix.trail)
            elif buf.startswith(c.name_suffix_raw, j):
                j += len(c.name_suffix_raw)
            return self._raw(j, special, name, c.call_end, final)
        j = self._lit(m.end(), c.name_suffix, final)
        # Arguments as an object, or as a JSON string holding one (templates that apply tojson
        # to an already serialised string).
        arguments, end = self._json_at(j, final, '{"')
        arguments = as_arguments(arguments)
        return self._lit(end, c.call_end, final), (name, dumps(arguments), None)

    def _single(self, i: int, final: bool) -> tuple[int, Call]:
        """One call with its call markers (cached once parsed: more text cannot change it)."""
        hit = self._one.get(i)
        if hit is not None:
            return hit
        c = self.c
        j = self._lit(i, c.call_begin, final)
        if c.body == "name":
            result = self._name_call(j, final)
        else:
            obj, end = self._json_at(j, final)
            call = self._json_call(obj)
            result = self._lit(end, c.call_end, final), call
        self._one[i] = result
        return result

    def _sequence(self, i: int, final: bool) -> tuple[int, list[Call]]:
        """One or more calls separated by the separator (and/or whitespace)."""
        left = self._calls_left()
        progress = self._seq.get(i)  # resume where the last attempt stopped (streaming)
        if progress is None:
            end, call = self._single(i, final)
            progress = self._seq[i] = [end, [call]]
        end, calls = progress
        while left is None or len(calls) < left:
            try:
                j = self._lit(end, self.c.separator, final)
            except Fail:
                j = end
            try:
                end, call = self._single(j, final)
            except Fail:
                break
            calls.append(call)
            progress[0] = end
        end = progress[0]
        if left is not None and len(calls) > left:
            raise Fail
        return end, list(calls)

    def _array(self, i: int, final: bool) -> tuple[int, list[Call]]:
        items, end = self._json_at(i, final, "[")
        if not isinstance(items, list) or not items:
            raise Fail
        left = self._calls_left()
        if left is not None and len(items) > left:
            raise Fail
        return end, [self._json_call(item) for item in items]

    def _section(self, i: int, final: bool) -> tuple[int, list[Call]]:
        c = self.c
        j = self._lit(i, c.section_begin, final)
        end, calls = self._array(j, final) if c.array else self._sequence(j, final)
        if c.section_end is not None:
            try:
                end = self._lit(end, c.section_end, final)
            except Fail:
                if not c.section_end_optional:
                    raise
        return end, calls

    def _anchored_block(self, i: int, final: bool) -> tuple[int, list[Call]]:
        c = self.c
        if c.section_begin is not None:
            return self._section(i, final)
        if c.array:
            return self._array(i, final)
        return self._sequence(i, final)

    def _terminated(
        self, j: int, terminators: tuple[str, ...], final: bool
    ) -> tuple[str, int]:
        """Raw text from j to the first terminator (removed) or the end of the output."""
        buf = self.buf
        if terminators:
            start = self._scan_from.get(j, j)
            best = -1
            found = ""
            for term in terminators:
                e = buf.find(term, start)
                if e >= 0 and (best < 0 or e < best):
                    best, found = e, term
            if best >= 0:
                return buf[j:best], best + len(found)
            longest = max(len(t) for t in terminators)
            self._scan_from[j] = max(j, len(buf) - longest + 1)
        if not final:
            raise Need
        return buf[j:], len(buf)

    def _raw(
        self, j: int, special: SpecialTool, name: str, end_marker: Optional[Marker], final: bool
    ) -> tuple[int, Call]:
        """A raw body: the text is the value of `special.argument`, unless the model wrote a JSON
        object holding that argument (then the object is the arguments)."""
        buf = self.buf
        k = self._ws(j, final)
        if k < len(buf) and buf[k] == "{":
            try:
                value, end = self._json_at(k, final)
            except Fail:
                value = None
            if isinstance(value, dict) and special.argument in value:
                closing = marker(special.end) or end_marker
                return self._lit(end, closing, final), (name, dumps(value), None)
        terminators = tuple(t for t in ([special.end.strip()] if special.end.strip() else special.stop) if t)
        text, end = self._terminated(j, terminators, final)
        return end, (name, dumps({special.argument: text.strip()}), None)

    def _special(
        self, q: int, specials: tuple[SpecialTool, ...], final: bool
    ) -> tuple[int, list[Call]]:
        c = self.c
        buf = self.buf
        first = specials[0]
        j = q + len(marker(first.begin or "").core)
        if first.body == "raw":
            names = [n for s in specials for n in s.names if self._allowed(n)]
            if not names:
                raise Fail
            end, call = self._raw(j, first, names[0], None, final)
            return end, [call]
        # python_call: NAME.call(...); the model may also write a normal call after the marker.
        k = self._ws(j, final)
        if k < len(buf) and buf[k] == "{" and c.body == "json":
            obj, end = self._json_at(k, final)
            return end, [self._json_call(obj)]
        terminators = tuple(
            t for t in ([first.end.strip()] if first.end.strip() else first.stop) if t
        )
        text, end = self._terminated(j, terminators, final)
        parsed = parse_python_call(text)
        if parsed is None:
            raise Fail
        name, arguments = parsed
        if not any(name in s.names for s in specials) or not self._allowed(name):
            raise Fail
        return end, [(name, dumps(arguments), None)]
