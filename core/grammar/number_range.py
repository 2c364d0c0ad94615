"""GBNF for the JSON numbers between two bounds: integers (`integer_range`) and decimals
(`decimal_range`), written digit by digit so every number the rule allows is in range.

A bounded decimal is written without an exponent (at most 20 integer and 20 fraction digits).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable, Optional

from .gbnf import MAX_INT_DIGITS

FRACTION_DIGITS = 20


def _alt(parts: list[str]) -> str:
    """Alternation of GBNF sequences, grouped for use inside a sequence."""
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1:
        return unique[0]  # a sequence inside a sequence needs no group
    return "(" + " | ".join(p if p else '""' for p in unique) + ")"


def _digit_class(lo: int, hi: int) -> str:
    return f'"{lo}"' if lo == hi else f"[{lo}-{hi}]"


def _digits(n: int) -> str:
    return "" if n == 0 else (" [0-9]" if n == 1 else f" [0-9]{{{n}}}")


def _same_length_range(lo: str, hi: str) -> list[str]:
    """Alternatives matching the decimal numbers between lo and hi (strings of equal length)."""
    n = len(lo)
    if lo == hi:
        return [f'"{lo}"']
    rest = n - 1
    lo_rest_min = lo[1:] == "0" * rest
    hi_rest_max = hi[1:] == "9" * rest
    if lo[0] == hi[0]:
        return [f'"{lo[0]}" ' + _alt(_same_length_range(lo[1:], hi[1:]))]
    alts: list[str] = []
    first_mid, last_mid = int(lo[0]) + 1, int(hi[0]) - 1
    if lo_rest_min:
        first_mid -= 1
    else:
        alts.append(f'"{lo[0]}" ' + _alt(_same_length_range(lo[1:], "9" * rest)))
    if hi_rest_max:
        last_mid += 1
    if first_mid <= last_mid:
        alts.append(_digit_class(first_mid, last_mid) + _digits(rest))
    if not hi_rest_max:
        alts.append(f'"{hi[0]}" ' + _alt(_same_length_range("0" * rest, hi[1:])))
    return alts


def natural_range(lo: int, hi: Optional[int]) -> list[str]:
    """Alternatives for the integers lo..hi (hi None: unbounded), lo >= 0, no leading zeros."""
    alts: list[str] = []
    lo_len = len(str(lo))
    top_len = len(str(hi)) if hi is not None else max(lo_len, MAX_INT_DIGITS)
    for length in range(lo_len, top_len + 1):
        start = lo if length == lo_len else 10 ** (length - 1)
        end = hi if (hi is not None and length == top_len) else 10**length - 1
        if hi is None and length > lo_len:
            # every longer number qualifies: one rule for all remaining lengths
            alts.append(f"[1-9] [0-9]{{{length - 1},{top_len - 1}}}")
            break
        alts.extend(_same_length_range(str(start), str(end)))
    return alts


def integer_range(lo: Optional[int], hi: Optional[int]) -> str:
    """A GBNF expression for the JSON integers in [lo, hi] (None: unbounded on that side)."""
    parts: list[str] = []
    if lo is None or lo < 0:
        # negative numbers, written as "-" and a magnitude in [mag_lo, mag_hi]
        mag_lo = 1 if hi is None or hi >= 0 else -hi
        mag_hi = None if lo is None else -lo
        parts.append('"-" ' + _alt(natural_range(mag_lo, mag_hi)))
    if hi is None or hi >= 0:
        parts.extend(natural_range(max(lo or 0, 0), hi))
    return "(" + " | ".join(parts) + ")"


# -- decimals --------------------------------------------------------------------------------------

Bound = Optional[tuple[Decimal, bool]]  # (value, inclusive)


def _split(value: Decimal) -> tuple[int, str]:
    """A non-negative decimal as (integer part, fraction digits without trailing zeros)."""
    text = format(value, "f")
    whole, _, fraction = text.partition(".")
    return int(whole), fraction.rstrip("0")


class _Fractions:
    """Rules for the fraction digits d (after ".") with low <= 0.d <= high, one rule per state."""

    def __init__(self, add_rule: Callable[[str, str], str], name: str):
        self.add_rule = add_rule
        self.name = name
        self.memo: dict[tuple, tuple[Optional[str], bool]] = {}

    def rule(self, low: Optional[tuple[str, bool]], high: Optional[tuple[str, bool]], budget: int = FRACTION_DIGITS):
        """(GBNF for the non-empty digit strings allowed, or None; whether no digits is allowed)."""
        if low == ("", True):
            low = None  # >= 0 holds for every fraction
        key = (low, high, budget)
        if key in self.memo:
            return self.memo[key]
        empty = low is None and (high is None or high[0] != "" or high[1])
        result: tuple[Optional[str], bool]
        if budget == 0:
            result = (None, empty)
        elif low is None and high is None:
            result = (f"[0-9]{{1,{budget}}}", True)
        elif low is None and high is not None and high[0] == "":  # at most 0: zeros only
            result = (f'"0"{{1,{budget}}}' if high[1] else None, empty)
        elif high is None and low == ("", False):  # more than 0: some digit is not 0
            result = (f'"0"{{0,{budget - 1}}} [1-9] [0-9]{{0,{budget - 1}}}', False)
        else:
            result = (self._digits(low, high, budget), empty)
        self.memo[key] = result
        return result

    def _digits(self, low, high, budget: int) -> Optional[str]:
        groups: dict[tuple, list[int]] = {}
        for c in range(10):
            lower = self._step(low, c, True)
            upper = self._step(high, c, False)
            if lower is False or upper is False:
                continue
            groups.setdefault((lower, upper), []).append(c)
        alts = []
        for (lower, upper), digits in groups.items():
            if digits == list(range(digits[0], digits[-1] + 1)):
                head = _digit_class(digits[0], digits[-1])
            else:
                head = "[" + "".join(map(str, digits)) + "]"
            rest, rest_empty = self.rule(lower, upper, budget - 1)
            if rest is None:
                if rest_empty:
                    alts.append(head)
                continue
            group = f"({rest})" if any(c in rest for c in " |{*+?") else rest
            alts.append(f"{head} {group}?" if rest_empty else f"{head} {group}")
        if not alts:
            return None
        body = " | ".join(alts)
        return self.add_rule(f"{self.name}-frac", body) if len(alts) > 1 else body

    @staticmethod
    def _step(bound: Optional[tuple[str, bool]], c: int, lower: bool):
        """The bound on the rest after digit c: None (no constraint), False (impossible), or
        (rest digits, inclusive)."""
        if bound is None:
            return None
        digits, inclusive = bound
        b = int(digits[0]) if digits else 0
        if (c > b) if lower else (c < b):
            return None
        if c != b:
            return False
        return (digits[1:], inclusive)


def _magnitude(add_rule: Callable[[str, str], str], low: tuple[Decimal, bool], high: Bound, name: str) -> Optional[str]:
    """Non-negative numbers m with low <= m <= high (high None: unbounded), or None if none."""
    if high is not None and (high[0] < low[0] or (high[0] == low[0] and not (low[1] and high[1]))):
        return None
    fractions = _Fractions(add_rule, name)
    a, a_frac = _split(low[0])
    alts: list[str] = []

    def number(whole: str, lo_f: Optional[tuple[str, bool]], hi_f: Optional[tuple[str, bool]]) -> None:
        frac, empty = fractions.rule(lo_f, hi_f)
        if frac is None:
            if empty:
                alts.append(whole)
            return
        alts.append(f'{whole} ("." {frac})?' if empty else f'{whole} "." {frac}')

    if high is not None:
        b, b_frac = _split(high[0])
        if a == b:
            number(f'"{a}"', (a_frac, low[1]), (b_frac, high[1]))
            return _alt(alts) if alts else None
        number(f'"{a}"', (a_frac, low[1]), None)
        if b - a >= 2:
            number(_alt(natural_range(a + 1, b - 1)), None, None)
        number(f'"{b}"', None, (b_frac, high[1]))
    else:
        number(f'"{a}"', (a_frac, low[1]), None)
        number(_alt(natural_range(a + 1, None)), None, None)
    return _alt(alts) if alts else None


def decimal_range(add_rule: Callable[[str, str], str], low: Bound, high: Bound, name: str) -> Optional[str]:
    """A GBNF expression for the JSON numbers in [low, high] (None: unbounded; exclusive where
    the bound says so), or None when there is none."""
    parts: list[str] = []
    zero = Decimal(0)
    if low is None or low[0] < 0:
        # negative numbers: "-" and a magnitude in [-high, -low] (-0 is 0, in range here)
        mag_low = (-high[0], high[1]) if high is not None and high[0] < 0 else (zero, True)
        mag_high = None if low is None else (-low[0], low[1])
        magnitude = _magnitude(add_rule, mag_low, mag_high, f"{name}-neg")
        if magnitude is not None:
            parts.append(f'"-" {magnitude}')
    if high is None or high[0] > 0 or (high[0] == 0 and high[1]):
        mag_low = low if low is not None and low[0] >= 0 else (zero, True)
        magnitude = _magnitude(add_rule, mag_low, high, name)
        if magnitude is not None:
            parts.append(magnitude)
    if not parts:
        return None
    return "(" + " | ".join(parts) + ")"
