"""Tool-call ids in the history, rewritten to the style a format's template expects."""

from __future__ import annotations

import hashlib
import re

_ALNUM9 = re.compile(r"[A-Za-z0-9]{9}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def alnum9(original: str, salt: int = 0) -> str:
    """9 base-62 characters derived from a hash: deterministic, so prompts stay cacheable."""
    digest = hashlib.sha256(f"{salt}:{original}".encode()).digest()
    number = int.from_bytes(digest[:12], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


class IdMapper:
    """Rewrites tool-call ids to the spec's style, consistently across calls and results."""

    def __init__(self, style: str):
        self.style = style
        self.global_map: dict[str, str] = {}
        self.used: set[str] = set()
        self.current: dict[str, str] = {}  # ids of the latest assistant message's calls

    def start_message(self) -> None:
        self.current = {}

    def for_call(self, original: str, index: int) -> str:
        if self.style == "index":
            new = str(index)  # the model numbers the calls of each message from 0
        elif self.style == "alnum9":
            new = self._alnum9(original)
        else:
            new = original
        self.current[original] = new
        self.global_map.setdefault(original, new)
        return new

    def for_result(self, original: str) -> str:
        if original in self.current:
            return self.current[original]
        if original in self.global_map:
            return self.global_map[original]
        return self._alnum9(original) if self.style == "alnum9" else original

    def _alnum9(self, original: str) -> str:
        if original in self.global_map:
            return self.global_map[original]
        if _ALNUM9.fullmatch(original) and original not in self.used:
            new = original
        else:
            salt = 0
            new = alnum9(original)
            while new in self.used:  # two ids hashing alike: vanishingly rare, still handled
                salt += 1
                new = alnum9(original, salt)
        self.used.add(new)
        self.global_map[original] = new
        return new
