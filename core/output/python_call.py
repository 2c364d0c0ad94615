"""Where a Python-style call NAME.call(k=v, ...) ends, found incrementally.

Only the characters Python literals and keyword arguments are made of may appear outside strings,
so a candidate that is not such a call fails at its first other character (no candidate runs to
the end of a long output). `calls.parse_python_call` then reads the call with `ast`.
"""

from __future__ import annotations

import re
from typing import Optional

from .json_reader import DONE, FAIL, NEED

_HEAD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\.call\(")
_PARTIAL_HEAD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}(\.(c(a(l(l)?)?)?)?)?")
_PLAIN = re.compile(r"[A-Za-z0-9_ \t\r\n=,.+\-:]*")
_OPEN, _CLOSE = "([{", ")]}"


class PythonCallReader:
    """Reads NAME.call(...) from `start`; `advance(buf, final)` returns NEED, DONE (`end` set) or FAIL."""

    __slots__ = ("pos", "end", "depth", "quote", "started")

    def __init__(self, start: int) -> None:
        self.pos = start
        self.end: Optional[int] = None
        self.depth = 0
        self.quote = ""  # the string being read: ' " ''' or \"\"\"
        self.started = False

    def advance(self, buf: str, final: bool) -> int:
        if self.end is not None:
            return DONE
        n = len(buf)
        if not self.started:
            m = _HEAD.match(buf, self.pos)
            if m is None:
                partial = _PARTIAL_HEAD.match(buf, self.pos)
                return NEED if partial and partial.end() == n and not final else FAIL
            self.pos, self.depth, self.started = m.end(), 1, True
        pos = self.pos
        while True:
            if self.quote:
                q = self.quote
                while True:
                    if pos >= n:
                        self.pos = pos
                        return FAIL if final else NEED
                    c = buf[pos]
                    if c == "\\":
                        pos += 2
                        continue
                    if buf.startswith(q, pos):
                        pos += len(q)
                        self.quote = ""
                        break
                    if c == "\n" and len(q) == 1:
                        return FAIL
                    pos += 1
                continue
            pos = _PLAIN.match(buf, pos).end()
            if pos >= n:
                self.pos = pos
                return FAIL if final else NEED
            c = buf[pos]
            if c in "'\"":
                if pos + 3 > n and not final and buf[pos:] == c * (n - pos):
                    self.pos = pos
                    return NEED  # one, two or three quotes: not decided yet
                self.quote = c * 3 if buf.startswith(c * 3, pos) else c
                pos += len(self.quote)
            elif c in _OPEN:
                self.depth += 1
                pos += 1
            elif c in _CLOSE:
                self.depth -= 1
                pos += 1
                if self.depth == 0:
                    if c != ")":
                        return FAIL
                    self.pos = self.end = pos
                    return DONE
            else:
                return FAIL
