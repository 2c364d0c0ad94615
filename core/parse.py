"""Model output -> OpenAI assistant message, driven by the spec's `tool_calls` shape.

One resumable left-to-right scanner (`_Scanner`) does the work for both the whole-text parser
(`parse_output`, one pass with ``final=True``) and the streaming parser (`chatformats.stream`,
which feeds pieces and asks the scanner to advance as far as the text decides). Because both use
the same decisions, the streamed deltas add up to exactly what `parse_output` returns.

Conventions of the returned message:
- ``content``: text outside calls and reasoning; whitespace touching a removed block (reasoning,
  call, content marker) is stripped; separate pieces of content are joined with ``"\\n"``;
  ``None`` when empty and there are tool calls. Content-only output comes back as is.
- ``reasoning_content``: only when the spec has reasoning and some non-blank reasoning was found.
- ``tool_calls[i].function.arguments``: ``json.dumps(value, ensure_ascii=False)`` of the parsed
  JSON arguments (so it is canonical JSON, not the model's exact spacing).
- Never raises on model output: anything that is not a well-formed call stays in content.

How the spec is read (see core/spec/shape.py): markers match with flexible whitespace at their edges;
a call is a JSON object with exactly the keys of the call shape (name, arguments, id, optional
fields), arguments being an object or a JSON string holding one; a candidate that does not parse
(bad JSON, missing end marker, unknown tool when `tools` is given, more than max_calls) stays
content and scanning goes on right after its opening marker. Reasoning is recognised at the start
of the output; a reasoning block that is never closed ends at its first well-formed call block
(everything is reasoning when there is none). Special tools: `raw` bodies run to the tool's
`end` (or its `stop` markers, or the end of output); `python_call` bodies need a `begin` marker.
"""

from __future__ import annotations

import ast
import json
import logging
import random
import re
import string
from typing import Any, Callable, Optional

from .spec import SpecialTool, Spec
from .spec.shape import Marker, compile_shape, marker

IdFactory = Callable[[int], str]

log = logging.getLogger(__name__)

# Flexible whitespace before a marker is capped so a retry never rescans an unbounded run.
_WS_CAP = 256
_NAME_CAP = 128
_WS = re.compile(r"\s{0,%d}" % _WS_CAP)
_ANY_WS = re.compile(r"\s*")
_NAME = re.compile(r"[\w.\-]{1,%d}" % (_NAME_CAP + 1))
_WORD = re.compile(r"\w")
_STR_STOP = re.compile(r'["\\]')
_STRUCT = re.compile(r'["{}\[\]]')


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# NaN and Infinity are not JSON: a client could not parse arguments holding them.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_ALNUM = string.ascii_letters + string.digits
_ARGUMENT_KEYS = ("arguments", "parameters")


class _Need(Exception):
    """More text could change the decision (raised only while streaming)."""


class _Fail(Exception):
    """Not a well-formed call: its text stays content."""


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def new_call_id(style: str, index: int) -> str:
    """A call id in the spec's style: random (call_ + 24 alphanumerics), alnum9 or index."""
    if style == "index":
        return str(index)
    if style == "alnum9":
        return "".join(random.choices(_ALNUM, k=9))
    return "call_" + "".join(random.choices(_ALNUM, k=24))


def tool_names(tools: Optional[list[dict[str, Any]]]) -> Optional[frozenset[str]]:
    """The names of the request's tools; None when no tool list was given (any name is accepted)."""
    if tools is None:
        return None
    names = set()
    for tool in tools:
        if isinstance(tool, dict):
            fn = tool.get("function", tool)
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                names.add(fn["name"])
    return frozenset(names)


def holdback(text: str, start: int, cores: tuple[str, ...]) -> int:
    """Length of the longest tail of text[start:] that is a proper prefix of one of `cores`."""
    available = len(text) - start
    best = 0
    for core in cores:
        k = min(len(core) - 1, available)
        while k > best:
            if text.endswith(core[:k]):
                best = k
                break
            k -= 1
    return best


def _as_arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # some models write the arguments as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            raise _Fail from None
    if not isinstance(value, dict):
        raise _Fail
    return value


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        raise _Fail from None


def parse_python_call(source: str) -> Optional[tuple[str, dict[str, Any]]]:
    """NAME.call(k="v", n=1) -> (NAME, {"k": "v", "n": 1}); literals only, else None."""
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(node, ast.Call) or node.args:
        return None
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "call" and isinstance(func.value, ast.Name)):
        return None
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            return None
        try:
            arguments[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            return None
    return func.value.id, arguments


class _JsonExtent:
    """Where a JSON object/array/string that starts at `pos` ends: resumable, so streaming stays
    linear.

    It only follows strings and brackets; json's raw_decode validates the value once it closes.
    """

    __slots__ = ("pos", "depth", "in_str")

    def __init__(self, start: int) -> None:
        self.pos = start
        self.depth = 0
        self.in_str = False

    def advance(self, text: str) -> Optional[int]:
        pos, depth, in_str = self.pos, self.depth, self.in_str
        n = len(text)
        while pos < n:
            if in_str:
                m = _STR_STOP.search(text, pos)
                if m is None:
                    pos = n
                    break
                pos = m.end()
                if m.group() == "\\":
                    pos += 1  # may pass the end: the escaped character is skipped next time
                else:
                    in_str = False
                    if depth <= 0:  # a top-level string
                        self.pos, self.depth, self.in_str = pos, depth, in_str
                        return pos
            else:
                m = _STRUCT.search(text, pos)
                if m is None:
                    pos = n
                    break
                pos = m.end()
                ch = m.group()
                if ch == '"':
                    in_str = True
                elif ch in "{[":
                    depth += 1
                else:
                    depth -= 1
                    if depth <= 0:
                        self.pos, self.depth, self.in_str = pos, depth, in_str
                        return pos
        self.pos, self.depth, self.in_str = pos, depth, in_str
        return None


# A parsed call before it gets its id: (name, arguments JSON, id from the output or None).
_Call = tuple[str, str, Optional[str]]

_START, _REASONING, _BODY_INIT, _ENVELOPE, _PLAIN, _NORMAL, _DONE = range(7)


class _Scanner:
    """Resumable scanner: `advance(final)` consumes as much of `buf` as the text decides.

    With final=False a decision that more text could change raises _Need internally and the
    scanner waits; with final=True everything is decided. Events (content / reasoning / call)
    are appended to `events` in output order.
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
        self.id_factory = id_factory
        self.in_reasoning = in_reasoning
        self.buf = ""
        self.pos = 0
        self.state = _START
        self.events: list[tuple[str, Any]] = []
        self.n_calls = 0
        self._rscan = 0  # where the search for the reasoning end marker resumes
        self._oscan = 0  # where the search for a call opener inside reasoning resumes
        self._rhold: Optional[int] = None  # first call opener inside the reasoning block
        self._implicit_end = 0
        self._anchor_pending = self.c.anchored
        self._json: dict[int, Any] = {}  # start -> _JsonExtent | (value, end) | False
        self._one: dict[int, tuple[int, _Call]] = {}  # start -> parsed single call
        self._seq: dict[int, list[Any]] = {}  # start -> [end, calls] of a sequence parsed so far
        self._scan_from: dict[int, int] = {}  # raw body start -> where the terminator search resumes
        # content emitter
        self._lstrip = False
        self._pending_ws: list[str] = []  # trailing whitespace, kept unless a block follows
        self._lead_ws: list[str] = []  # whitespace stripped after a block
        self._joiner: Optional[str] = None  # whitespace before the last removed block
        self._has_content = False
        self._segment_raw: list[str] = []
        # reasoning emitter
        self._r_started = False
        self._r_pending: list[str] = []

    # -- input -------------------------------------------------------------------------------

    def feed(self, text: str) -> None:
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

    # -- emitters ----------------------------------------------------------------------------

    def _reason(self, text: str) -> None:
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
            self.events.append(("reasoning", out))
            if len(core) < len(text):
                self._r_pending.append(text[len(core) - len(text) :])
        elif text:
            self._r_pending.append(text)

    def _content(self, text: str) -> None:
        if self.c.content_encoding == "json_string":
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
            self.events.append(("content", out))
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

    def _removed(self) -> None:
        """A block (reasoning, call, content marker) was cut out: whitespace touching it goes."""
        self._end_segment()
        if self._joiner is None:
            self._joiner = "".join(self._pending_ws)
            self._lead_ws = []
        self._pending_ws = []
        self._lstrip = True

    def _range(self, a: int, b: int) -> None:
        a = max(a, self._implicit_end)
        if a < b:
            self._content(self.buf[a:b])

    def finish(self) -> None:
        """Flush what the end of the output decides (trailing whitespace is not next to a block)."""
        self._end_segment()
        if self._pending_ws:
            self.events.append(("content", "".join(self._pending_ws)))
            self._pending_ws = []

    def _add_calls(self, calls: list[_Call]) -> None:
        for name, arguments, call_id in calls:
            index = self.n_calls
            if call_id is None:
                call_id = self.id_factory(index) if self.id_factory else new_call_id(self.c.id_style, index)
            self.events.append(
                (
                    "call",
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    },
                )
            )
            self.n_calls += 1

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
                self._r_pending = []
                self._removed()
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
            obj, end = _DECODER.raw_decode(buf, i)
        except ValueError:
            obj, end = None, 0
        if isinstance(obj, dict) and not buf[end:].strip():
            try:
                calls: list[_Call] = []
                if env.calls_key in obj and isinstance(obj[env.calls_key], list):
                    calls = [self._json_call(item) for item in obj[env.calls_key]]
                    if not calls:
                        raise _Fail
                elif env.call_key in obj:
                    calls = [self._json_call(obj[env.call_key])]
                text = obj.get(env.content_key)
                if text is not None and not isinstance(text, str):
                    raise _Fail
                if not calls and text is None:
                    raise _Fail
                if self.c.max_calls is not None and len(calls) > self.c.max_calls:
                    raise _Fail
                result = (text, calls)
            except _Fail:
                result = None
        if result is None:
            self.state = _PLAIN
            self.advance(True)
            return
        text, calls = result
        if text:
            self._content(text)
        if calls:
            self._removed()
            self._add_calls(calls)
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
            self._reason(buf[self.pos : e])
            self.pos = e + len(end)
            return True
        if not final:
            upto = len(buf) - holdback(buf, self.pos, (end, *c.call_opener_cores))
            if self._rhold is not None:
                upto = min(upto, self._rhold)
            if upto > self.pos:
                self._reason(buf[self.pos : upto])
                self.pos = upto
            return False
        start = self._first_block(self._rhold) if self._rhold is not None else None
        if start is None:
            self._reason(buf[self.pos :])
            self.pos = len(buf)
        else:
            self._reason(buf[self.pos : start])
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
            except _Fail:
                i = m.end()

    def _block(self, m: re.Match, final: bool) -> tuple[int, list[_Call]]:
        """Parse the call block whose opener `m` matched."""
        kind, payload = self.c.opener_kinds[m.lastgroup]
        left = self._calls_left()
        if left is not None and left <= 0:
            raise _Fail
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
        return self.c.max_calls - self.n_calls

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
                except _Need:
                    return
                except _Fail:
                    self._anchor_pending = False
                    continue
                self._anchor_pending = False
                self._range(self.pos, i)
                self._removed()
                self._add_calls(calls)
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
                self._removed()
                self.pos = m.end()
                continue
            try:
                end, calls = self._block(m, final)
            except _Need:
                self._range(self.pos, q)
                self.pos = q
                return
            except _Fail:
                self._range(self.pos, m.end())
                self.pos = m.end()
                continue
            self._range(self.pos, q)
            self._removed()
            self._add_calls(calls)
            self.pos = end

    # -- pieces of a call (each returns the end position, raises _Need or _Fail) -------------

    def _ws(self, i: int, final: bool) -> int:
        j = _WS.match(self.buf, i).end()
        if j == len(self.buf) and not final:
            raise _Need
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
            raise _Need
        else:
            raise _Fail
        if marker.boundary:
            if j == len(buf):
                if not final:
                    raise _Need
            elif _WORD.match(buf[j]):
                raise _Fail
        return j

    def _json_at(self, i: int, final: bool, opener: str = "{") -> tuple[Any, int]:
        buf = self.buf
        i = self._ws(i, final)
        if i >= len(buf) or buf[i] not in opener:
            raise _Fail
        entry = self._json.get(i)
        if entry is None:
            if final:
                try:
                    entry = _DECODER.raw_decode(buf, i)
                except (ValueError, RecursionError):
                    entry = False
                self._json[i] = entry
            else:
                entry = self._json[i] = _JsonExtent(i)
        if isinstance(entry, _JsonExtent):
            end = entry.advance(buf) if not final else None
            if end is None and not final:
                raise _Need
            try:
                entry = _DECODER.raw_decode(buf, i)
            except (ValueError, RecursionError):
                entry = False
            self._json[i] = entry
        if entry is False:
            raise _Fail
        return entry

    def _allowed(self, name: str) -> bool:
        return self.names is None or name in self.names

    def _json_call(self, obj: Any) -> _Call:
        if not isinstance(obj, dict):
            raise _Fail
        jb = self.c.json_body
        name = obj.get(jb.name_key)
        if not isinstance(name, str) or not self._allowed(name):
            raise _Fail
        if jb.arguments_key in obj:
            arguments = obj[jb.arguments_key]
        else:
            key = next((k for k in _ARGUMENT_KEYS if k in obj), None)
            if key is None or jb.arguments_key not in _ARGUMENT_KEYS:
                raise _Fail
            arguments = obj[key]
        for key, value in jb.optional_fields.items():
            if key in obj and obj[key] != value:
                raise _Fail
        # Only the keys of the call shape: a JSON object with other keys is data, not a call.
        allowed = {jb.name_key, jb.arguments_key, *_ARGUMENT_KEYS, *jb.optional_fields}
        if jb.id_key:
            allowed.add(jb.id_key)
        if not allowed.issuperset(obj):
            raise _Fail
        call_id = obj.get(jb.id_key) if jb.id_key else None
        if isinstance(call_id, bool) or not isinstance(call_id, (str, int)) or call_id == "":
            call_id = None
        return name, _dumps(_as_arguments(arguments)), None if call_id is None else str(call_id)

    def _name_call(self, i: int, final: bool) -> tuple[int, _Call]:
        """NAME suffix {json} [call end], or a raw special tool in the name position."""
        c = self.c
        buf = self.buf
        i = self._ws(i, final)
        m = _NAME.match(buf, i)
        if m is None or m.end() - i > _NAME_CAP:
            raise _Fail
        if m.end() == len(buf) and not final:
            raise _Need
        name = m.group()
        if not self._allowed(name):
            raise _Fail
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
        arguments = _as_arguments(arguments)
        return self._lit(end, c.call_end, final), (name, _dumps(arguments), None)

    def _single(self, i: int, final: bool) -> tuple[int, _Call]:
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

    def _sequence(self, i: int, final: bool) -> tuple[int, list[_Call]]:
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
            except _Fail:
                j = end
            try:
                end, call = self._single(j, final)
            except _Fail:
                break
            calls.append(call)
            progress[0] = end
        end = progress[0]
        if left is not None and len(calls) > left:
            raise _Fail
        return end, list(calls)

    def _array(self, i: int, final: bool) -> tuple[int, list[_Call]]:
        items, end = self._json_at(i, final, "[")
        if not isinstance(items, list) or not items:
            raise _Fail
        left = self._calls_left()
        if left is not None and len(items) > left:
            raise _Fail
        return end, [self._json_call(item) for item in items]

    def _section(self, i: int, final: bool) -> tuple[int, list[_Call]]:
        c = self.c
        j = self._lit(i, c.section_begin, final)
        end, calls = self._array(j, final) if c.array else self._sequence(j, final)
        if c.section_end is not None:
            try:
                end = self._lit(end, c.section_end, final)
            except _Fail:
                if not c.section_end_optional:
                    raise
        return end, calls

    def _anchored_block(self, i: int, final: bool) -> tuple[int, list[_Call]]:
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
            raise _Need
        return buf[j:], len(buf)

    def _raw(
        self, j: int, special: SpecialTool, name: str, end_marker: Optional[Marker], final: bool
    ) -> tuple[int, _Call]:
        """A raw body: the text is the value of `special.argument`, unless the model wrote a JSON
        object holding that argument (then the object is the arguments)."""
        buf = self.buf
        k = self._ws(j, final)
        if k < len(buf) and buf[k] == "{":
            try:
                value, end = self._json_at(k, final)
            except _Fail:
                value = None
            if isinstance(value, dict) and special.argument in value:
                closing = marker(special.end) or end_marker
                return self._lit(end, closing, final), (name, _dumps(value), None)
        terminators = tuple(t for t in ([special.end.strip()] if special.end.strip() else special.stop) if t)
        text, end = self._terminated(j, terminators, final)
        return end, (name, _dumps({special.argument: text.strip()}), None)

    def _special(
        self, q: int, specials: tuple[SpecialTool, ...], final: bool
    ) -> tuple[int, list[_Call]]:
        c = self.c
        buf = self.buf
        first = specials[0]
        j = q + len(marker(first.begin or "").core)
        if first.body == "raw":
            names = [n for s in specials for n in s.names if self._allowed(n)]
            if not names:
                raise _Fail
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
            raise _Fail
        name, arguments = parsed
        if not any(name in s.names for s in specials) or not self._allowed(name):
            raise _Fail
        return end, [(name, _dumps(arguments), None)]

    # -- result ------------------------------------------------------------------------------

    def message(self) -> dict[str, Any]:
        content: list[str] = []
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        for kind, value in self.events:
            if kind == "content":
                content.append(value)
            elif kind == "reasoning":
                reasoning.append(value)
            else:
                calls.append(value)
        text = "".join(content)
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if calls:
            message["tool_calls"] = calls
        return message


def parse_output(
    spec: Spec,
    text: str,
    tools: Optional[list[dict[str, Any]]] = None,
    *,
    in_reasoning: bool = False,
    id_factory: Optional[IdFactory] = None,
) -> dict[str, Any]:
    """Parse a model's complete output into an OpenAI assistant message (never raises).

    :param spec: the format.
    :param text: the generated text (special tokens included as text).
    :param tools: the request's tools; when given, a call naming another tool stays content.
    :param in_reasoning: the prompt already opened the reasoning block (output starts inside it).
    :param id_factory: call index -> id, for calls whose id is not in the output (default: the
        spec's id style).
    :returns: ``{"role": "assistant", "content", "reasoning_content"?, "tool_calls"?}``;
        arguments are ``json.dumps(value, ensure_ascii=False)`` of the parsed JSON.
    """
    try:
        scanner = _Scanner(spec, tools, in_reasoning, id_factory)
        scanner.buf = text
        scanner.advance(True)
        scanner.finish()
        return scanner.message()
    except Exception:  # a bug here must not lose the model's output
        log.exception("chatformats: parsing %s output failed; returning it as content", spec.name)
        return {"role": "assistant", "content": text}
