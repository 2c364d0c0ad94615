"""The intersection of JSON Schemas (`allOf`), and the keyword tables the GBNF visitor follows.

`merge` folds schemas into one that allows exactly the values all of them allow, as far as the
grammar enforces keywords: types intersect, bounds tighten, enums intersect, properties merge
key by key, `additionalProperties: false` limits the keys to those every such part declares.
A merge no value satisfies raises `SchemaError` naming the keyword.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Optional


class SchemaError(ValueError):
    """A JSON Schema no value satisfies, or one that cannot be read (the message names the tool,
    the keyword and where)."""


# Keywords that only describe (never constrain): no warning when the grammar ignores them.
ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$anchor", "$dynamicAnchor", "$comment", "$vocabulary", "$defs",
        "definitions", "title", "description", "default", "examples", "example", "deprecated",
        "readOnly", "writeOnly", "contentEncoding", "contentMediaType", "contentSchema",
        "discriminator", "xml", "externalDocs", "strict",
    }
)
# Keywords the grammar cannot enforce (each one present is named in a warning).
NOT_ENFORCED = (
    "multipleOf", "uniqueItems", "contains", "minContains", "maxContains", "if", "then", "else",
    "dependentRequired", "dependentSchemas", "dependencies", "not", "propertyNames",
    "patternProperties", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
)
TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
# Keywords that say which type a schema without `type` is about.
FAMILIES = {
    "object": ("properties", "additionalProperties", "required", "minProperties", "maxProperties"),
    "array": ("items", "prefixItems", "additionalItems", "minItems", "maxItems"),
    "string": ("minLength", "maxLength", "pattern", "format"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
}
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def normalize_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """Draft 4's boolean exclusiveMinimum/Maximum as draft 6+ numbers; non-finite bounds dropped."""
    out = dict(schema)
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = out.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and is_number(out.get(bound)):
                out[exclusive] = out.pop(bound)
        for key in (bound, exclusive):
            if key in out and not is_number(out[key]):
                del out[key]
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def type_set(schema: dict[str, Any]) -> Optional[set[str]]:
    kind = schema.get("type")
    if kind is None:
        return None
    kinds = {kind} if isinstance(kind, str) else {k for k in kind if isinstance(k, str)}
    if "number" in kinds:
        kinds.add("integer")
    return kinds


class Merger:
    """Folds schemas (`allOf`) into one; `resolve` turns a $ref into its schema (None: unknown)."""

    def __init__(self, resolve: Callable[[str], Any], fail: Callable[[str], Exception]):
        self.resolve = resolve
        self.fail = fail

    def flatten(self, part: Any, depth: int = 0) -> list[dict[str, Any]]:
        if depth > 32:
            raise self.fail("`allOf` nests $refs too deeply to merge")
        if part is True:
            return []
        if part is False:
            raise self.fail("`allOf` holds `false`: no value satisfies it")
        if not isinstance(part, dict):
            raise self.fail("`allOf` holds something that is not a schema")
        part = dict(part)
        out: list[dict[str, Any]] = []
        if "$ref" in part:
            target = self.resolve(part.pop("$ref"))
            if target is None:
                raise self.fail("`$ref` cannot be resolved")
            out += self.flatten(target, depth + 1)
        for sub in part.pop("allOf", None) or []:
            out += self.flatten(sub, depth + 1)
        out.append(normalize_bounds(part))
        return out

    def merge(self, parts: list[Any]) -> dict[str, Any]:
        flat = [p for part in parts for p in self.flatten(part)]
        merged: dict[str, Any] = {}
        unions: list[list[Any]] = []
        allowed: Optional[set[str]] = None
        extra_patterns: list[str] = []
        for part in flat:
            if part.get("additionalProperties") is False:
                keys = set(part.get("properties") or {})
                allowed = keys if allowed is None else allowed & keys
            for key, value in part.items():
                if key in ("anyOf", "oneOf"):
                    if isinstance(value, list):
                        unions.append(value)
                        if key == "oneOf":
                            merged.setdefault("x-oneOf", True)
                    continue
                self._one(merged, key, value, extra_patterns)
        if allowed is not None:
            props = merged.get("properties") or {}
            merged["properties"] = {k: v for k, v in props.items() if k in allowed}
            merged["additionalProperties"] = False
            missing = [k for k in merged.get("required") or [] if k not in allowed]
            if missing:
                raise self.fail(f"`required` key {missing[0]!r} is not allowed by `additionalProperties: false`")
        if extra_patterns:
            merged["x-patterns"] = extra_patterns
        if unions:
            merged["anyOf"] = unions[0]
            if len(unions) > 1:
                merged["allOf"] = [{"anyOf": u} for u in unions[1:]]
        return merged

    def _one(self, merged: dict[str, Any], key: str, value: Any, extra_patterns: list[str]) -> None:
        if key not in merged:
            merged[key] = value
            return
        old = merged[key]
        if key == "type":
            both = type_set({"type": old}) & type_set({"type": value})  # type: ignore[operator]
            kinds = [t for t in TYPES if t in both and not (t == "integer" and "number" in both)]
            if not kinds:
                raise self.fail(f"`type` {json.dumps(old)} and {json.dumps(value)} have no value in common")
            merged[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "properties" and isinstance(old, dict) and isinstance(value, dict):
            merged[key] = {**old, **{k: ({"allOf": [old[k], v]} if k in old else v) for k, v in value.items()}}
        elif key == "required":
            merged[key] = list(dict.fromkeys([*old, *value]))
        elif key in ("items", "additionalProperties", "additionalItems"):
            if old is False or value is False:
                merged[key] = False
            elif old is True or value is True:
                merged[key] = value if old is True else old
            else:
                merged[key] = {"allOf": [old, value]}
        elif key == "prefixItems" and isinstance(old, list) and isinstance(value, list):
            longer = old if len(old) >= len(value) else value
            merged[key] = [
                {"allOf": [old[i], value[i]]} if i < len(old) and i < len(value) else longer[i]
                for i in range(len(longer))
            ]
        elif key in _LOWER and is_number(old) and is_number(value):
            merged[key] = max(old, value)
        elif key in _UPPER and is_number(old) and is_number(value):
            merged[key] = min(old, value)
        elif key == "enum" and isinstance(old, list) and isinstance(value, list):
            keep = {_canonical(v) for v in value}
            merged[key] = [v for v in old if _canonical(v) in keep]
            if not merged[key]:
                raise self.fail("`enum` lists have no value in common")
        elif key == "const":
            if _canonical(old) != _canonical(value):
                raise self.fail(f"`const` {json.dumps(old)} and {json.dumps(value)} differ")
        elif key == "pattern":
            if value != old:
                extra_patterns.append(value)
        # other keywords: the first value stays (annotations, or keywords named in a warning)
