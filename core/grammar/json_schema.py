"""JSON Schema -> GBNF rules (`GbnfBuilder.add_schema`, `add_arguments`).

Every keyword is enforced by the grammar or named in a warning (`GbnfBuilder.warnings`, one line
per tool and keyword), never silently dropped:

- enforced: `type`, `enum`, `const`, `$ref`/`$defs` (recursion included), `anyOf`, `oneOf` (as
  alternatives: exclusivity is named in a warning), `allOf` (merged), `nullable` (OpenAPI);
  objects: `properties`, `required`, `additionalProperties`, `minProperties`/`maxProperties`;
  arrays: `items`, `prefixItems`, `additionalItems`, `minItems`/`maxItems`; strings:
  `minLength`/`maxLength`, `pattern` (`regex_gbnf`), `format` (`string_formats`); integers and
  numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`.
- named in a warning: `multipleOf`, `uniqueItems`, `contains`, `if`/`then`/`else`,
  `dependentRequired`, `not`, ... (`schema_merge.NOT_ENFORCED`), formats and patterns the grammar
  cannot write, a `pattern` or length bounds next to a `format`.

A schema no value satisfies (`minimum > maximum`, `enum: []`, a required key that
`additionalProperties: false` forbids, `allOf` with clashing types, ...) raises `SchemaError`
naming the tool, the keyword and where. Where the grammar is stricter than the schema (an object
with `properties` and no `additionalProperties` gets only its declared keys; a schema without
`type` gets the type its keywords are about) every value it allows is still valid.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Optional

import jsonschema

from .gbnf import GbnfRules, escape_char, gbnf_literal, ranges_class, sanitize_name
from .number_range import decimal_range, integer_range
from .regex_gbnf import PatternRules, UnsupportedPattern
from ..spec.writer import json_text
from .schema_containers import ContainerRules
from .schema_merge import (
    ANNOTATIONS,
    FAMILIES,
    NOT_ENFORCED,
    TYPES,
    Merger,
    SchemaError,
    is_number,
    normalize_bounds,
)
from .string_formats import format_rules

__all__ = ["GbnfBuilder", "SchemaError", "integer_range"]

# The value rules of a Python-literal body (NAME.call(k=v)): True/False/None, JSON otherwise.
PYTHON_RULES = {
    "py-boolean": '"True" | "False"',
    "py-none": '"None"',
    "py-value": "py-object | py-array | string | number | py-boolean | py-none",
    "py-object": '"{" ws (string ws ":" ws py-value ws ("," ws string ws ":" ws py-value ws)*)? "}"',
    "py-array": '"[" ws (py-value ws ("," ws py-value ws)*)? "]"',
}


class GbnfBuilder(GbnfRules):
    """GBNF rules, plus rules for JSON values valid against a JSON Schema; `warnings` lists what
    the grammar does not enforce."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def add_schema(self, schema: Any, name: str, root: Any = None, *, python: bool = False, label: str = "") -> str:
        """A rule matching JSON values valid against `schema`; returns its name.

        `$ref`s (`#/$defs/...`, `#/definitions/...`) resolve against `root`, by default `schema`.
        `python`: values are written as Python literals (True, False, None). `label` starts each
        warning and error (e.g. "tools[0] get_weather").
        """
        document = schema if root is None else root
        return _SchemaVisitor(self, document, label or name, python).visit(schema, sanitize_name(name), "")

    def add_arguments(self, schema: Any, tool: str, *, label: str = "") -> str:
        """The rule for a tool's arguments: a JSON object valid against its parameters schema.

        Raises `SchemaError` when the schema cannot describe an object.
        """
        label = label or tool
        if not isinstance(schema, dict):
            schema = {"type": "object"}
        kinds = schema.get("type")
        if kinds is not None and "object" not in ([kinds] if isinstance(kinds, str) else kinds):
            raise SchemaError(f"{label}: the parameters schema must describe a JSON object, not `type: {json.dumps(kinds)}`")
        return self.add_schema({**schema, "type": "object"}, f"{tool}-args", schema, label=label)

    def python_rule(self, name: str) -> str:
        for rule, body in PYTHON_RULES.items():
            self.rules.setdefault(rule, body)
        return name


def _alt(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    return unique[0] if len(unique) == 1 else " | ".join(unique)


class _SchemaVisitor(ContainerRules):
    def __init__(self, builder: GbnfBuilder, root: Any, label: str, python: bool) -> None:
        self.b = builder
        self.root = root
        self.label = label
        self.python = python
        self.refs: dict[str, str] = {}
        self.merger = Merger(self._resolve, lambda message: self._error("", message))
        self.patterns = PatternRules(builder.add_rule, gbnf_literal, ranges_class)

    # .. reporting

    def _where(self, path: str) -> str:
        return f" at {path}" if path else ""

    def _error(self, path: str, message: str) -> SchemaError:
        return SchemaError(f"{self.label}: {message}{self._where(path)}: no value satisfies the schema")

    def _warn(self, path: str, keyword: str, detail: str = "is not enforced by the grammar") -> None:
        line = f"{self.label}: `{keyword}`{self._where(path)} {detail}"
        if line not in self.b.warnings:
            self.b.warnings.append(line)

    def _builtin(self, name: str) -> str:
        if not self.python or name not in ("value", "object", "array", "boolean", "null"):
            return name
        return self.b.python_rule({"null": "py-none"}.get(name, f"py-{name}"))

    # .. the walk

    def visit(self, schema: Any, name: str, path: str) -> str:
        if schema is True or schema == {}:
            return self._builtin("value")
        if schema is False:
            raise self._error(path, "`false`")
        if not isinstance(schema, dict):
            raise SchemaError(f"{self.label}: not a JSON Schema{self._where(path)}: {json.dumps(schema, default=str)[:60]}")
        schema = normalize_bounds(schema)
        for keyword in NOT_ENFORCED:
            if keyword in schema:
                self._warn(path, keyword)
        for pattern in schema.get("x-patterns") or []:
            self._warn(path, "pattern", f"{json.dumps(pattern)} is not enforced next to another pattern")
        if "$ref" in schema:
            return self._ref(schema, name, path)
        if isinstance(schema.get("allOf"), list):
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.visit(self._merge([rest, *schema["allOf"]], path), name, path)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return self._union(schema, key, name, path)
        if schema.get("nullable") is True:
            rest = {k: v for k, v in schema.items() if k != "nullable"}
            options = [self.visit(rest, f"{name}-value", path), self._builtin("null")]
            return self.b.add_rule(name, _alt(options))
        if "const" in schema:
            return self.b.add_rule(name, self._literal(self._allowed([schema["const"]], schema, "const", path)[0]))
        if "enum" in schema:
            values = schema["enum"] if isinstance(schema["enum"], list) else []
            options = [self._literal(v) for v in self._allowed(values, schema, "enum", path)]
            return self.b.add_rule(name, " | ".join(f"({o})" if " " in o else o for o in dict.fromkeys(options)))
        kinds = self._kinds(schema, path)
        if kinds is None:
            return self._builtin("value")
        if len(kinds) > 1:
            alts = []
            for kind in kinds:
                try:
                    alts.append(self.visit({**schema, "type": kind}, f"{name}-{kind}", path))
                except SchemaError:
                    continue  # an empty branch of a union is no problem while another is not
            if not alts:
                raise self._error(path, f"`type` {json.dumps(kinds)}")
            return self.b.add_rule(name, _alt(alts))
        return self._typed(schema, kinds[0], name, path)

    def _kinds(self, schema: dict[str, Any], path: str) -> Optional[list[str]]:
        kind = schema.get("type")
        if kind is None:
            found = [family for family, keys in FAMILIES.items() if any(k in schema for k in keys)]
            return found or None
        kinds = [kind] if isinstance(kind, str) else kind
        if not isinstance(kinds, list) or not kinds:
            raise self._error(path, f"`type` {json.dumps(kind)}")
        for k in kinds:
            if k not in TYPES:
                raise SchemaError(f"{self.label}: unknown `type` {json.dumps(k)}{self._where(path)}")
        return list(dict.fromkeys(kinds))

    def _typed(self, schema: dict[str, Any], kind: str, name: str, path: str) -> str:
        if kind == "object":
            return self._object(schema, name, path)
        if kind == "array":
            return self._array(schema, name, path)
        if kind == "string":
            return self._string(schema, name, path)
        if kind == "integer":
            return self._integer(schema, name, path)
        if kind == "number":
            return self._number(schema, name, path)
        return self._builtin(kind)

    def _allowed(self, values: list[Any], schema: dict[str, Any], keyword: str, path: str) -> list[Any]:
        """The `enum`/`const` values that the rest of the schema accepts (jsonschema decides)."""
        rest = {k: v for k, v in schema.items() if k not in ("enum", "const") and not k.startswith("x-")}
        try:
            check = jsonschema.Draft202012Validator(rest, format_checker=jsonschema.FormatChecker())
            kept = [v for v in values if check.is_valid(v)]
        except (jsonschema.SchemaError, jsonschema.exceptions.RefResolutionError, Exception):  # noqa: BLE001
            kept = list(values)  # the rest is unreadable to jsonschema: keep the listed values
        if not kept:
            raise self._error(path, f"`{keyword}`" + (" is empty" if not values else " has no value the rest of the schema allows"))
        return kept

    def _literal(self, value: Any) -> str:
        """One exact JSON value; containers allow the usual whitespace between their tokens."""
        if isinstance(value, dict):
            members = ' "," ws '.join(
                f'{gbnf_literal(json_text(str(k)))} ws ":" ws {self._literal(v)} ws' for k, v in value.items()
            )
            return f'"{{" ws {members} "}}"' if members else '"{" ws "}"'
        if isinstance(value, list):
            elements = ' "," ws '.join(f"{self._literal(v)} ws" for v in value)
            return f'"[" ws {elements} "]"' if elements else '"[" ws "]"'
        if self.python and (value is None or isinstance(value, bool)):
            return gbnf_literal({None: "None", True: "True", False: "False"}[value])
        return gbnf_literal(json_text(value))

    # .. references and combinations

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

    def _ref(self, schema: dict[str, Any], name: str, path: str) -> str:
        ref = schema["$ref"]
        siblings = {k: v for k, v in schema.items() if k != "$ref" and k not in ANNOTATIONS}
        target = self._resolve(ref)
        if target is None:
            raise SchemaError(f"{self.label}: `$ref` {json.dumps(ref)} cannot be resolved{self._where(path)}")
        if siblings:  # the reference and its siblings both apply
            return self.visit(self._merge([siblings, {"$ref": ref}], path), name, path)
        if ref in self.refs:
            return self.refs[ref]
        rule = self.b.reserve(f"ref-{ref.rsplit('/', 1)[-1]}")
        self.refs[ref] = rule
        self.b.define(rule, self.visit(target, f"{rule}-value", ref))
        return rule

    def _merge(self, parts: list[Any], path: str) -> dict[str, Any]:
        self.merger.fail = lambda message: self._error(path, message)
        return self.merger.merge(parts)

    def _union(self, schema: dict[str, Any], key: str, name: str, path: str) -> str:
        siblings = {k: v for k, v in schema.items() if k != key}
        alts = []
        for i, option in enumerate(schema[key]):
            try:
                merged = self._merge([siblings, option], path) if siblings else option
                alts.append(self.visit(merged, f"{name}-{i}", f"{path}.{key}[{i}]".lstrip(".")))
            except SchemaError:
                continue  # an option no value satisfies is left out
        if not alts:
            raise self._error(path, f"every option of `{key}`")
        if (key == "oneOf" or schema.get("x-oneOf")) and len(alts) > 1:
            self._warn(path, "oneOf", "is enforced as anyOf (that exactly one option matches is not enforced)")
        return self.b.add_rule(name, _alt(alts))

    # .. strings

    def _string(self, schema: dict[str, Any], name: str, path: str) -> str:
        min_len, max_len = self._counts(schema, "minLength", "maxLength", path)
        lengths = bool(min_len or max_len is not None)
        fmt = schema.get("format")
        if isinstance(fmt, str):
            rules = format_rules(fmt)
            if rules:
                for key in ("pattern",) + (("minLength", "maxLength") if lengths else ()):
                    if key in schema:
                        self._warn(path, key, f"is not enforced next to `format: {fmt}`")
                for rule, body in rules.items():
                    self.b.rules.setdefault(rule, body)
                return self.b.add_rule(name, f'"\\"" {next(iter(rules))} "\\""')
            self._warn(path, f"format: {fmt}")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise SchemaError(f"{self.label}: `pattern` {json.dumps(pattern)} is not a valid regular expression ({exc}){self._where(path)}") from None
            try:
                rule = self.patterns.pattern(pattern, name, "char")
            except UnsupportedPattern as exc:
                self._warn(path, "pattern", f"{json.dumps(pattern)} is not enforced by the grammar ({exc})")
            else:
                if lengths:
                    self._warn(path, "minLength" if min_len else "maxLength", "is not enforced next to `pattern`")
                return rule
        if not lengths:
            return "string"
        bound = f"{{{min_len},{'' if max_len is None else max_len}}}"
        return self.b.add_rule(name, f'"\\"" char{bound} "\\""')

    # .. numbers

    def _integer(self, schema: dict[str, Any], name: str, path: str) -> str:
        lo, hi = _integer_bounds(schema)
        if lo is None and hi is None:
            return "integer"
        if lo is not None and hi is not None and lo > hi:
            raise self._error(path, "`minimum`/`maximum` (no integer between them)")
        return self.b.add_rule(name, integer_range(lo, hi)[1:-1])

    def _number(self, schema: dict[str, Any], name: str, path: str) -> str:
        low = _tightest(schema, "minimum", "exclusiveMinimum", max)
        high = _tightest(schema, "maximum", "exclusiveMaximum", min)
        if low is None and high is None:
            return "number"
        body = decimal_range(self.b.add_rule, low, high, name)
        if body is None:
            raise self._error(path, "`minimum`/`maximum` (no number between them)")
        return self.b.add_rule(name, body[1:-1] if body.startswith("(") and body.endswith(")") else body)


def _integer_bounds(schema: dict[str, Any]) -> tuple[Optional[int], Optional[int]]:
    import math

    lo: Optional[int] = None
    hi: Optional[int] = None
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    for value in (minimum,):
        if is_number(value):
            lo = math.ceil(value) if lo is None else max(lo, math.ceil(value))
    if is_number(ex_min):
        bound = math.floor(ex_min) + 1
        lo = bound if lo is None else max(lo, bound)
    if is_number(maximum):
        hi = math.floor(maximum) if hi is None else min(hi, math.floor(maximum))
    if is_number(ex_max):
        bound = math.ceil(ex_max) - 1
        hi = bound if hi is None else min(hi, bound)
    return lo, hi


def _tightest(schema: dict[str, Any], inclusive: str, exclusive: str, pick) -> Optional[tuple[Decimal, bool]]:
    """The bound that binds: (value, inclusive) from `minimum`/`exclusiveMinimum` (or maximum)."""
    found = []
    if is_number(schema.get(inclusive)):
        found.append((Decimal(repr(schema[inclusive])), True))
    if is_number(schema.get(exclusive)):
        found.append((Decimal(repr(schema[exclusive])), False))
    if not found:
        return None
    best = pick(v for v, _ in found)
    # at the same value, the exclusive bound is the tighter one
    return (best, all(inc for v, inc in found if v == best))


_ = escape_char  # re-exported through chatformats.grammar for 0.1 callers
