"""JSON Schema -> GBNF rules (`GbnfBuilder.add_schema`).

Integer minimum/maximum (and exclusive bounds) are honoured exactly with digit-range rules;
string length bounds are; patterns, formats and non-integer bounds are best effort (any value of
the type). `$ref`s resolve against the root schema.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Optional

from .gbnf import (
    BUILTIN_RULES,
    MAX_INT_DIGITS,
    GbnfRules,
    escape_char,
    gbnf_literal,
    kv_sequence,
    sanitize_name,
)


class GbnfBuilder(GbnfRules):
    """GBNF rules, plus rules for JSON values valid against a JSON Schema."""

    def add_schema(self, schema: Any, name: str, root: Any = None) -> str:
        """A rule matching JSON values valid against `schema`; returns its name.

        `$ref`s (`#/$defs/...`, `#/definitions/...`) resolve against `root`, by default `schema`.
        """
        document = schema if root is None else root
        return _SchemaVisitor(self, document).visit(schema, sanitize_name(name))


def _alt(parts: Sequence[str]) -> str:
    """Alternation of GBNF sequences, grouped for use inside a sequence."""
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1:
        return unique[0]  # a sequence inside a sequence needs no group
    return "(" + " | ".join(p if p else '""' for p in unique) + ")"


# -- integer ranges ------------------------------------------------------------------------------


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


def _natural_range(lo: int, hi: Optional[int]) -> list[str]:
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
        parts.append('"-" ' + _alt(_natural_range(mag_lo, mag_hi)))
    if hi is None or hi >= 0:
        parts.extend(_natural_range(max(lo or 0, 0), hi))
    return "(" + " | ".join(parts) + ")"


def _integer_bounds(schema: dict[str, Any]) -> tuple[Optional[int], Optional[int]]:
    lo: Optional[int] = None
    hi: Optional[int] = None

    def raise_lo(value: int) -> None:
        nonlocal lo
        lo = value if lo is None else max(lo, value)

    def lower_hi(value: int) -> None:
        nonlocal hi
        hi = value if hi is None else min(hi, value)

    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if _is_number(minimum):
        # draft 4 spells an exclusive bound as a boolean next to minimum/maximum
        raise_lo(math.floor(minimum) + 1 if ex_min is True else math.ceil(minimum))
    if _is_number(maximum):
        lower_hi(math.ceil(maximum) - 1 if ex_max is True else math.floor(maximum))
    if _is_number(ex_min):
        raise_lo(math.floor(ex_min) + 1)
    if _is_number(ex_max):
        lower_hi(math.ceil(ex_max) - 1)
    return lo, hi


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- schema walking ------------------------------------------------------------------------------

_OBJECT_KEYS = ("properties", "additionalProperties", "required")
_ARRAY_KEYS = ("items", "prefixItems", "minItems", "maxItems")


class _SchemaVisitor:
    def __init__(self, builder: GbnfRules, root: Any) -> None:
        self.b = builder
        self.root = root
        self.refs: dict[str, str] = {}

    def visit(self, schema: Any, name: str) -> str:
        if schema is True or schema is False or not isinstance(schema, dict) or not schema:
            return "value"  # {} / true: anything; false and junk: best effort, anything
        if "$ref" in schema:
            return self._ref(schema, name)
        if "const" in schema:
            return self.b.add_rule(name, self._json_literal(schema["const"]))
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            options = dict.fromkeys(self._json_literal(v) for v in schema["enum"])
            return self.b.add_rule(name, " | ".join(f"({o})" if " " in o else o for o in options))
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self._union(schema, key, name)
        if isinstance(schema.get("allOf"), list):
            return self.visit(self._merge_all_of(schema), name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if isinstance(k, str)] or ["value"]
            alts = [self.visit({**schema, "type": k}, f"{name}-{k}") for k in kinds]
            return self.b.add_rule(name, " | ".join(dict.fromkeys(alts)))
        if kind is None:
            if any(k in schema for k in _OBJECT_KEYS):
                kind = "object"
            elif any(k in schema for k in _ARRAY_KEYS):
                kind = "array"
        if kind == "object":
            return self._object(schema, name)
        if kind == "array":
            return self._array(schema, name)
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            lo, hi = _integer_bounds(schema)
            if lo is None and hi is None:
                return "integer"
            if lo is not None and hi is not None and lo > hi:
                return "integer"  # unsatisfiable bounds: best effort
            return self.b.add_rule(name, integer_range(lo, hi)[1:-1])
        if kind == "number":
            return self._number(schema, name)
        if kind in ("boolean", "null"):
            return kind
        return "value"

    # each helper returns a rule name

    def _json_literal(self, value: Any) -> str:
        """One exact JSON value; containers allow the usual whitespace between their tokens."""
        if isinstance(value, dict):
            members = ' "," ws '.join(
                f'{gbnf_literal(json.dumps(str(k), ensure_ascii=False))} ws ":" ws '
                f"{self._json_literal(v)} ws"
                for k, v in value.items()
            )
            return f'"{{" ws {members} "}}"' if members else '"{" ws "}"'
        if isinstance(value, list):
            elements = ' "," ws '.join(f"{self._json_literal(v)} ws" for v in value)
            return f'"[" ws {elements} "]"' if elements else '"[" ws "]"'
        return gbnf_literal(json.dumps(value, ensure_ascii=False))

    def _ref(self, schema: dict[str, Any], name: str) -> str:
        ref = schema["$ref"]
        if ref in self.refs:
            return self.refs[ref]
        target = self._resolve(ref)
        if target is None:
            return "value"
        rule = self.b.reserve(f"ref-{ref.rsplit('/', 1)[-1]}")
        self.refs[ref] = rule
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        if siblings and isinstance(target, dict):
            target = {**target, **siblings}
        inner = self.visit(target, f"{rule}-value")
        self.b.define(rule, inner)
        return rule

    def _resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node = self.root
        for raw in ref[1:].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def _union(self, schema: dict[str, Any], key: str, name: str) -> str:
        siblings = {k: v for k, v in schema.items() if k != key}
        alts = []
        for i, option in enumerate(schema[key]):
            if siblings and isinstance(option, dict):
                option = self._merge([siblings, option])
            alts.append(self.visit(option, f"{name}-{i}"))
        return self.b.add_rule(name, " | ".join(dict.fromkeys(alts)))

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        parts = [{k: v for k, v in schema.items() if k != "allOf"}]
        for part in schema["allOf"]:
            if isinstance(part, dict) and "$ref" in part:
                resolved = self._resolve(part["$ref"])
                part = resolved if isinstance(resolved, dict) else {}
            if isinstance(part, dict):
                parts.append(part)
        return self._merge(parts)

    @staticmethod
    def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
        """Shallow merge of schemas; objects get the union of properties and required keys."""
        merged: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for part in parts:
            for key, value in part.items():
                if key == "properties" and isinstance(value, dict):
                    properties.update(value)
                elif key == "required" and isinstance(value, list):
                    required += [r for r in value if r not in required]
                elif key == "additionalProperties" and merged.get(key) is False:
                    continue  # the strictest wins
                else:
                    merged[key] = value
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def _object(self, schema: dict[str, Any], name: str) -> str:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = set(schema.get("required") or [])
        extra = schema.get("additionalProperties")
        if extra is None:
            # tool arguments: keep the model to the declared keys when there are any
            extra = not isinstance(schema.get("properties"), dict)
        if not properties and extra is True:
            return "object"
        kvs: list[tuple[str, bool]] = []
        for key, sub in properties.items():
            if sub is False:
                continue
            value = self.visit(sub, f"{name}-{key}")
            kv = self.b.add_rule(
                f"{name}-{key}-kv", f'{gbnf_literal(json.dumps(key, ensure_ascii=False))} ws ":" ws {value} ws'
            )
            kvs.append((kv, key in required))
        extra_kv: Optional[str] = None
        if extra is not False:
            extra_value = "value" if extra is True else self.visit(extra, f"{name}-additional")
            key = self._string_except(list(properties), f"{name}-additional-key")
            extra_kv = self.b.add_rule(f"{name}-additional-kv", f'{key} ws ":" ws {extra_value} ws')
        members = kv_sequence(self.b, kvs, name, extra_kv)
        return self.b.add_rule(name, " ".join(p for p in ('"{" ws', members, '"}"') if p))

    def _string_except(self, keys: list[str], name: str) -> str:
        """A JSON string other than the given keys (so an additional key never repeats a declared one).

        Keys that need escaping in JSON are not excluded (best effort), nor are keys written with
        \\u escapes.
        """
        plain = sorted(k for k in keys if json.dumps(k, ensure_ascii=False)[1:-1] == k)
        if not plain:
            return "string"
        rest = self.b.add_rule("string-rest", 'char* "\\""')
        escape = '"\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})'

        def node(prefix: str) -> str:
            children = sorted({k[len(prefix)] for k in plain if k.startswith(prefix) and len(k) > len(prefix)})
            alts = [] if prefix in plain else ['"\\""']
            alts += [f"{gbnf_literal(c)} {node(prefix + c)}" for c in children]
            other = "".join(escape_char(c, True) for c in children)
            alts.append(f'[^"\\\\\\x7F\\x00-\\x1F{other}] {rest}')
            alts.append(f"{escape} {rest}")
            return self.b.add_rule(f"{name}-{len(prefix)}", " | ".join(alts))

        return self.b.add_rule(name, f'"\\"" {node("")}')

    def _array(self, schema: dict[str, Any], name: str) -> str:
        min_items = schema.get("minItems", 0)
        max_items = schema.get("maxItems")
        min_items = min_items if isinstance(min_items, int) and min_items > 0 else 0
        max_items = max_items if isinstance(max_items, int) and max_items >= 0 else None
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-2019 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        if isinstance(prefix, list) and prefix:
            return self._tuple(prefix, items, min_items, max_items, name)
        item = self.visit(items if items is not None else {}, f"{name}-item")
        if max_items == 0:
            return self.b.add_rule(name, '"[" ws "]"')
        more_max = "" if max_items is None else str(max_items - 1)
        more = f'("," ws {item} ws){{{max(min_items - 1, 0)},{more_max}}}'
        more = more.replace("{0,}", "*")
        seq = f"{item} ws" if max_items == 1 else f"{item} ws {more}"
        body = f'"[" ws {seq} "]"' if min_items > 0 else f'"[" ws ({seq})? "]"'
        return self.b.add_rule(name, body)

    def _tuple(
        self, prefix: list[Any], items: Any, min_items: int, max_items: Optional[int], name: str
    ) -> str:
        rules = [self.visit(s, f"{name}-{i}") for i, s in enumerate(prefix)]
        if max_items is not None:
            rules = rules[:max_items]
        tail = ""
        if items is not False and (max_items is None or max_items > len(rules)):
            extra = self.visit(items if isinstance(items, (dict, bool)) else {}, f"{name}-item")
            limit = "" if max_items is None else str(max_items - len(rules))
            tail = f'("," ws {extra} ws){{0,{limit}}}'.replace("{0,}", "*")
        # nested optionals: elements past minItems may stop the list
        body = tail
        for i in range(len(rules) - 1, -1, -1):
            sep = "" if i == 0 else '"," ws '
            element = f"{sep}{rules[i]} ws {body}".strip()
            body = element if i < min_items else f"({element})?"
        return self.b.add_rule(name, f'"[" ws {body} "]"')

    def _string(self, schema: dict[str, Any], name: str) -> str:
        min_len = schema.get("minLength", 0)
        max_len = schema.get("maxLength")
        min_len = min_len if isinstance(min_len, int) and min_len > 0 else 0
        max_len = max_len if isinstance(max_len, int) and max_len >= 0 else None
        if min_len == 0 and max_len is None:
            return "string"  # pattern and format are not enforced (best effort: any string)
        bound = f"{{{min_len},{'' if max_len is None else max_len}}}"
        return self.b.add_rule(name, f'"\\"" char{bound} "\\""')

    def _number(self, schema: dict[str, Any], name: str) -> str:
        # Bounds on non-integers are best effort: only the sign is enforced.
        lows = [schema.get(k) for k in ("minimum", "exclusiveMinimum")]
        if any(_is_number(v) and v >= 0 for v in lows):
            return self.b.add_rule(name, BUILTIN_RULES["number"].replace('"-"? ', "", 1))
        return "number"
