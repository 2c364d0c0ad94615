"""GBNF for the JSON Schema `format`s the grammar enforces: each rule allows only valid values
(a date that exists, a time of day, an RFC 3339 date-time, a UUID, an e-mail address, an IPv4
address, an absolute http(s) URI), so `jsonschema`'s format checks pass on whatever a model writes.

The rules allow a subset, bounded so a model cannot run on inside a value: February stops at the
28th (a 29th exists only in leap years), e-mail local parts and host labels are short, a URI has
a few short path segments.
"""

from __future__ import annotations

_DAYS = '("0" [1-9] | "1" [0-9] | "2" [0-8])'
_DAYS_30 = '("0" [1-9] | [12] [0-9] | "30")'
_DAYS_31 = '("0" [1-9] | [12] [0-9] | "3" [01])'
_YEAR = '([1-9] [0-9]{3} | "0" ([1-9] [0-9]{2} | "0" ([1-9] [0-9] | "0" [1-9])))'

FORMAT_RULES: dict[str, dict[str, str]] = {
    # name -> {rule: body}; the first rule is the string's content
    "date": {
        "fmt-date": f'{_YEAR} "-" ("02-" {_DAYS} | ("0" [469] | "11") "-" {_DAYS_30} | ("0" [13578] | "1" [02]) "-" {_DAYS_31})',
    },
    "time": {
        "fmt-time": '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? fmt-time-offset',
        "fmt-time-offset": '"Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9]',
    },
    "date-time": {"fmt-date-time": 'fmt-date "T" fmt-time'},
    "uuid": {
        "fmt-uuid": '[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}',
    },
    "email": {
        "fmt-email": '[a-zA-Z0-9._%+-]{1,32} "@" fmt-domain',
        "fmt-domain": 'fmt-label ("." fmt-label){1,3}',
        "fmt-label": "[a-zA-Z0-9] ([a-zA-Z0-9-]{0,20} [a-zA-Z0-9])?",
    },
    "ipv4": {
        "fmt-ipv4": 'fmt-octet "." fmt-octet "." fmt-octet "." fmt-octet',
        "fmt-octet": '"25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9]',
    },
    "uri": {
        "fmt-uri": '"http" "s"? "://" fmt-domain (":" [1-9] [0-9]{0,3})? ("/" fmt-uri-char{0,24}){0,6} ("?" fmt-uri-char{0,48})?',
        "fmt-uri-char": "[a-zA-Z0-9._~!$&'()*+,;=:@-] | \"%\" [0-9a-fA-F]{2}",
    },
}
# what each format's rules build on
_NEEDS = {"date-time": ("date", "time"), "email": (), "uri": ("email",)}


def format_rules(name: str) -> dict[str, str]:
    """Every rule the format needs (name -> body), its own first; {} for a format not enforced."""
    if name not in FORMAT_RULES:
        return {}
    rules: dict[str, str] = {}
    for dependency in _NEEDS.get(name, ()):
        for rule, body in format_rules(dependency).items():
            rules.setdefault(rule, body)
    own = dict(FORMAT_RULES[name])
    if name == "uri":  # the e-mail rules only lend their domain
        rules.pop("fmt-email", None)
    return {**own, **rules}
