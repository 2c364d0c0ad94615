"""Where a JSON value that starts at a position ends, found incrementally while text streams in."""

from __future__ import annotations

import json
import re
from typing import Any, Optional

_STR_STOP = re.compile(r'["\\]')
_STRUCT = re.compile(r'["{}\[\]]')


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# NaN and Infinity are not JSON: a client could not parse arguments holding them.
DECODER = json.JSONDecoder(parse_constant=_no_constant)


class JsonExtent:
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

