"""JSON Schema objects and arrays -> GBNF rules: a mixin of `json_schema`'s visitor.

Objects: `properties` in order (optional ones may be left out, commas right either way),
`required`, `additionalProperties` (never repeating a declared key), `minProperties` and
`maxProperties` (the members counted as they are written). Arrays: `items`, `prefixItems` (and
draft 4's tuple form with `additionalItems`), `minItems`, `maxItems`.
"""

from __future__ import annotations

from typing import Any, Optional

from ..spec.writer import json_text
from .gbnf import BUILTIN_RULES, GbnfRules, gbnf_literal, kv_sequence, ranges_class
from .regex_gbnf import VALID, chars_ranges, json_raw, subtract
from .schema_merge import SchemaError


class ContainerRules:
    """Object and array rules; the visitor provides `b`, `visit`, `_error` and `_builtin`."""

    b: GbnfRules

    def visit(self, schema: Any, name: str, path: str) -> str:
        raise NotImplementedError

    def _error(self, path: str, message: str) -> SchemaError:
        raise NotImplementedError

    def _builtin(self, name: str) -> str:
        raise NotImplementedError

    # .. objects

    def _object(self, schema: dict[str, Any], name: str, path: str) -> str:
        properties = schema.get("properties")
        properties = dict(properties) if isinstance(properties, dict) else {}
        required = [r for r in (schema.get("required") or []) if isinstance(r, str)]
        extra = schema.get("additionalProperties")
        if extra is None:
            # tool arguments: keep the model to the declared keys when there are any
            extra = not isinstance(schema.get("properties"), dict)
        for key in required:
            if key not in properties:
                if extra is False:
                    raise self._error(path, f"`required` key {key!r} is not in `properties` and `additionalProperties` is false")
                properties[key] = extra if isinstance(extra, dict) else {}
        low, high = self._counts(schema, "minProperties", "maxProperties", path)
        if high is not None and len(set(required)) > high:
            raise self._error(path, f"`maxProperties` {high} with {len(set(required))} `required` keys")
        if not properties and extra is True and not low and high is None:
            return self._builtin("object")
        kvs: list[tuple[str, bool]] = []
        for key, sub in properties.items():
            sub_path = f"{path}.properties.{key}".lstrip(".")
            if sub is False:
                if key in required:
                    raise self._error(sub_path, "a required property with schema `false`")
                continue
            try:
                value = self.visit(sub, f"{name}-{key}", sub_path)
            except SchemaError:
                if key in required:
                    raise
                continue  # an optional property no value satisfies is left out
            kv = self.b.add_rule(f"{name}-{key}-kv", f'{gbnf_literal(json_text(key))} ws ":" ws {value} ws')
            kvs.append((kv, key in required))
        extra_kv: Optional[str] = None
        if extra is not False:
            extra_value = self._builtin("value") if extra is True else self.visit(extra, f"{name}-additional", f"{path}.additionalProperties".lstrip("."))
            key = self._string_except(list(properties), f"{name}-additional-key")
            extra_kv = self.b.add_rule(f"{name}-additional-kv", f'{key} ws ":" ws {extra_value} ws')
        if not low and high is None:
            members = kv_sequence(self.b, kvs, name, extra_kv)
        else:
            members = self._counted(kvs, extra_kv, low, high, name, path)
        return self.b.add_rule(name, " ".join(p for p in ('"{" ws', members, '"}"') if p))

    def _counted(self, items: list[tuple[str, bool]], extra: Optional[str], low: int, high: Optional[int], name: str, path: str) -> str:
        """Members in order with low..high of them present (minProperties/maxProperties)."""
        cap = max(low, high or 0)
        memo: dict[tuple[int, int, bool], Optional[str]] = {}

        def rest(i: int, count: int, after: bool) -> Optional[str]:
            count = min(count, cap + 1)  # past the bounds every count is alike
            key = (i, count, after)
            if key in memo:
                return memo[key]
            sep = '"," ws ' if after else ""
            result: Optional[str]
            if high is not None and count > high:
                result = None
            elif i == len(items):
                need = max(0, low - count)
                room = None if high is None else high - count
                if extra is None:
                    result = "" if need == 0 else None
                elif room == 0:
                    result = ""
                elif after:
                    bound = f"{{{need},{'' if room is None else room}}}"
                    result = f'("," ws {extra}){bound}'.replace("{0,}", "*")
                elif need == 0:
                    more = "*" if room is None else f"{{0,{room - 1}}}"
                    result = f'({extra} ("," ws {extra}){more})?'
                else:
                    more = f"{{{need - 1},{'' if room is None else room - 1}}}"
                    result = f'{extra} ("," ws {extra}){more}'
            else:
                rule, is_required = items[i]
                taken_rest = rest(i + 1, count + 1, True)
                taken = None if taken_rest is None else f"{sep}{rule} {taken_rest}".strip()
                skipped = None if is_required else rest(i + 1, count, after)
                options = [o for o in (taken, skipped) if o is not None]
                if not options:
                    result = None
                elif len(options) == 1:
                    result = options[0]
                else:
                    result = self.b.add_rule(f"{name}-n{i}-{count}{'-a' if after else ''}", " | ".join(o or '""' for o in options))
            memo[key] = result
            return result

        members = rest(0, 0, False)
        if members is None:
            raise self._error(path, f"`minProperties` {low}" + ("" if high is None else f" / `maxProperties` {high}"))
        return members

    def _string_except(self, keys: list[str], name: str) -> str:
        """A JSON string other than the given keys (so an additional key never repeats a declared one).

        Keys that need escaping in JSON are not excluded (best effort), nor are keys written with
        \\u escapes.
        """
        plain = sorted(k for k in keys if json_text(k)[1:-1] == k)
        if not plain:
            return "string"
        rest = self.b.add_rule("string-rest", 'char* "\\""')
        escape = BUILTIN_RULES["char"].split(" | ", 1)[1]

        def node(prefix: str) -> str:
            children = sorted({k[len(prefix)] for k in plain if k.startswith(prefix) and len(k) > len(prefix)})
            alts = [] if prefix in plain else ['"\\""']
            alts += [f"{gbnf_literal(c)} {node(prefix + c)}" for c in children]
            plain_char = ranges_class(subtract(json_raw(VALID), chars_ranges("".join(children))))
            alts.append(f"{plain_char} {rest}")
            alts.append(f"{escape} {rest}")
            return self.b.add_rule(f"{name}-{len(prefix)}", " | ".join(alts))

        return self.b.add_rule(name, f'"\\"" {node("")}')

    def _counts(self, schema: dict[str, Any], low_key: str, high_key: str, path: str) -> tuple[int, Optional[int]]:
        """(minimum, maximum or None) of a count (minItems/maxItems, minLength/maxLength, ...)."""
        low, high = schema.get(low_key, 0), schema.get(high_key)
        low = low if isinstance(low, int) and not isinstance(low, bool) and low > 0 else 0
        high = high if isinstance(high, int) and not isinstance(high, bool) and high >= 0 else None
        if high is not None and low > high:
            raise self._error(path, f"`{low_key}` {low} > `{high_key}` {high}")
        return low, high

    # .. arrays

    def _array(self, schema: dict[str, Any], name: str, path: str) -> str:
        min_items, max_items = self._counts(schema, "minItems", "maxItems", path)
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-2019 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        if isinstance(prefix, list) and prefix:
            return self._tuple(prefix, items, min_items, max_items, name, path)
        if max_items == 0:
            return self.b.add_rule(name, '"[" ws "]"')
        try:
            item = self.visit(items if items is not None else {}, f"{name}-item", f"{path}.items".lstrip("."))
        except SchemaError:
            if min_items:
                raise
            return self.b.add_rule(name, '"[" ws "]"')  # no item fits: only the empty array does
        more_max = "" if max_items is None else str(max_items - 1)
        more = f'("," ws {item} ws){{{max(min_items - 1, 0)},{more_max}}}'
        more = more.replace("{0,}", "*")
        seq = f"{item} ws" if max_items == 1 else f"{item} ws {more}"
        body = f'"[" ws {seq} "]"' if min_items > 0 else f'"[" ws ({seq})? "]"'
        return self.b.add_rule(name, body)

    def _tuple(self, prefix: list[Any], items: Any, min_items: int, max_items: Optional[int], name: str, path: str) -> str:
        rules = []
        for i, sub in enumerate(prefix):
            try:
                rules.append(self.visit(sub, f"{name}-{i}", f"{path}.prefixItems[{i}]".lstrip(".")))
            except SchemaError:
                if i < min_items:
                    raise
                break  # the tuple stops before an element no value fits
        if max_items is not None:
            rules = rules[:max_items]
        tail = ""
        if len(rules) == len(prefix) and items is not False and (max_items is None or max_items > len(rules)):
            extra = self.visit(items if isinstance(items, (dict, bool)) else {}, f"{name}-item", f"{path}.items".lstrip("."))
            limit = "" if max_items is None else str(max_items - len(rules))
            tail = f'("," ws {extra} ws){{0,{limit}}}'.replace("{0,}", "*")
        if min_items > len(rules) and not tail:
            raise self._error(path, f"`minItems` {min_items} with {len(rules)} items allowed")
        # nested optionals: elements past minItems may stop the list
        body = tail
        for i in range(len(rules) - 1, -1, -1):
            sep = "" if i == 0 else '"," ws '
            element = f"{sep}{rules[i]} ws {body}".strip()
            body = element if i < min_items else f"({element})?"
        return self.b.add_rule(name, f'"[" ws {body} "]"')

