"""One JSON value read strictly and incrementally while text streams in.

Strict: no NaN or Infinity, no number a double cannot hold (1e999), no raw control characters
in strings, valid escapes only. It fails at the first character that cannot continue a value, so
a candidate call that is not JSON is given up right there (this keeps the scanner linear: no
attempt runs past the point where its text stopped being JSON). State survives between calls of
`advance`, so a value fed one character at a time is still read in linear time.
"""

from __future__ import annotations

import math
import re
from typing import Optional

NEED, DONE, FAIL = 0, 1, 2

_WS = re.compile(r"[ \t\n\r]*")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER_RUN = re.compile(r"[-+.eE0-9]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_LITERALS = {"t": "true", "f": "false", "n": "null"}
MAX_NUMBER = 1000
"""Longest number token read (a longer run of digits is not a number any client could use)."""

# states
_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _AFTER, _STRING, _NUMBER_TOKEN, _LITERAL, _SCALAR_END = range(10)


class JsonReader:
    """Reads the JSON value that starts at `start` (no leading whitespace).

    `advance(buf, final)` returns NEED (more text could finish it), DONE (`end` is set) or FAIL.
    `safe`: how far the text is read and cannot change meaning (inside a string, up to the last
    complete character; before a number or literal still being written) — what may be streamed.
    """

    __slots__ = ("pos", "safe", "end", "stack", "state", "key", "token")

    def __init__(self, start: int) -> None:
        self.pos = start
        self.safe = start
        self.end: Optional[int] = None
        self.stack: list[str] = []  # "{" or "["
        self.state = _VALUE
        self.key = False  # the string being read is an object key
        self.token = start  # where the number or literal being read starts

    def advance(self, buf: str, final: bool) -> int:
        if self.end is not None:
            return DONE
        pos, state, stack = self.pos, self.state, self.stack
        n = len(buf)
        result = NEED
        while True:
            if state == _STRING:
                pos = _STRING_RUN.match(buf, pos).end()
                self.safe = pos
                if pos >= n:
                    result = NEED
                    break
                c = buf[pos]
                if c == '"':
                    pos += 1
                    state = _COLON if self.key else _SCALAR_END
                    self.safe = pos
                    continue
                if c != "\\":
                    result = FAIL  # a raw control character
                    break
                if pos + 1 >= n:
                    result = NEED
                    break
                e = buf[pos + 1]
                if e in '"\\/bfnrt':
                    pos += 2
                elif e == "u":
                    if pos + 6 > n:
                        if _HEX4.match(buf[pos + 2 :].ljust(4, "0")) is None:
                            result = FAIL
                        break
                    if _HEX4.match(buf, pos + 2) is None:
                        result = FAIL
                        break
                    pos += 6
                else:
                    result = FAIL
                    break
                self.safe = pos
                continue
            if state == _NUMBER_TOKEN:
                end = _NUMBER_RUN.match(buf, pos).end()
                if end - self.token > MAX_NUMBER:
                    result = FAIL
                    break
                if end >= n and not final:
                    pos = end
                    result = NEED
                    break
                token = buf[self.token : end]
                if _NUMBER.fullmatch(token) is None or not math.isfinite(float(token)):
                    result = FAIL
                    break
                pos, state = end, _SCALAR_END
                continue
            if state == _LITERAL:
                word = _LITERALS[buf[self.token]]
                got = buf[self.token : self.token + len(word)]
                if got == word:
                    pos, state = self.token + len(word), _SCALAR_END
                    continue
                if not word.startswith(got) or final:
                    result = FAIL
                else:
                    pos = n
                break
            if state == _SCALAR_END:  # a string, number or literal value is complete
                state = _AFTER
                self.safe = pos
                if not stack:
                    self.end = pos
                    result = DONE
                    break
                continue
            # structural states: skip whitespace, then one token
            pos = _WS.match(buf, pos).end()
            if pos >= n:
                result = FAIL if final else NEED
                break
            c = buf[pos]
            closes = state in (_AFTER, _KEY_OR_CLOSE, _VALUE_OR_CLOSE) and c == ("}" if stack[-1] == "{" else "]")
            if closes or (state == _AFTER and c == ","):
                pos += 1
                self.safe = pos
                if not closes:
                    state = _KEY if stack[-1] == "{" else _VALUE
                    continue
                stack.pop()
                state = _AFTER
                if not stack:
                    self.end = pos
                    result = DONE
                    break
                continue
            if state == _AFTER:
                result = FAIL
                break
            if state == _COLON:
                if c != ":":
                    result = FAIL
                    break
                pos += 1
                state = _VALUE
                self.safe = pos
                continue
            if state in (_KEY, _KEY_OR_CLOSE):
                if c != '"':
                    result = FAIL
                    break
                pos += 1
                state, self.key = _STRING, True
                self.safe = pos
                continue
            # _VALUE or _VALUE_OR_CLOSE
            if c == "{":
                stack.append("{")
                state = _KEY_OR_CLOSE
            elif c == "[":
                stack.append("[")
                state = _VALUE_OR_CLOSE
            elif c == '"':
                state, self.key = _STRING, False
            elif c == "-" or "0" <= c <= "9":
                self.token = pos
                state = _NUMBER_TOKEN
                continue
            elif c in _LITERALS:
                self.token = pos
                state = _LITERAL
                continue
            else:
                result = FAIL
                break
            pos += 1
            self.safe = pos
        self.pos, self.state = pos, state
        if result == NEED and final:
            return FAIL
        return result


def skip_ws(buf: str, pos: int) -> int:
    """The position after JSON whitespace at `pos`."""
    return _WS.match(buf, pos).end()
