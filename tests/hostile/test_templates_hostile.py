"""Hostile chat templates (from a GGUF, a spec file or a client) end in seconds with a message
naming the template, and neither the command nor its sandbox worker grows past its bounds.
Each case is a real `formats` command in a subprocess, under the default limits (5 s, 256 MB)."""

from __future__ import annotations

import json

import pytest
from hostile_run import bounded, run_all, run_measured

from chatformats.testing.tiny_model import build_tiny_model

LIMIT = r"exceeded the (5 s time|256 MB memory) limit"
# name -> (template, what the one error line says)
TEMPLATES = {
    "nested loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}", LIMIT),
    "macro fan-out": ("{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}", LIMIT),
    "power chain": ("{{ ((9 ** 999) ** 999) ** 999 }}", LIMIT),
    "huge power": ("{{ 9 ** 99999999 }}", "exponent larger than"),
    "lipsum": ("{{ lipsum(10**6) }}", "lipsum paragraphs larger than"),
    "lipsum in a loop": ("{% for i in range(100000) %}{{ lipsum(100, max=1000) }}{% endfor %}", LIMIT),
    "center": ("{{ 'x'|center(999999999) }}", "center width larger than"),
    "indent": ("{{ 'x\ny'|indent(999999999) }}", "indent width larger than"),
    "format width": ("{{ '%999999999s'|format('x') }}", LIMIT),
    "tojson indent": ("{{ [[[[1]]]]|tojson(indent=999999999) }}", "tojson indent larger than"),
    "string repetition": ("{{ 'x' * 999999999 }}", "repetition result longer than"),
    "list doubling": ("{% set ns = namespace(x=['a' * 1000]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x|length }}", LIMIT),
    "namespace string doubling": ("{% set ns = namespace(x='a' * 100000) %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x|length }}", LIMIT),
    "output growth": ("{% for i in range(100000) %}{{ 'x' * 999999 }}{% endfor %}", LIMIT),
    "deep expression": ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", r"nested too deeply|exceeded|sandbox down"),
    "deep blocks": ("{% if true %}" * 3000 + "x" + "{% endif %}" * 3000, r"nested too deeply|exceeded|sandbox down"),
    "infinite recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", r"nested too deeply"),
    "sandbox escape": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "blocked by the sandbox"),
}


@pytest.fixture(scope="module")
def request_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-templates")
    (d / "req.json").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}), encoding="utf-8")
    return d


def test_hostile_templates_end_in_seconds_naming_the_template(request_file):
    import re

    names = list(TEMPLATES)
    for name in names:
        (request_file / f"{names.index(name)}.jinja").write_text(TEMPLATES[name][0], encoding="utf-8")
    runs = run_all(
        [["render", "hermes", "--request", "req.json", "--template", f"{i}.jinja"] for i in range(len(names))],
        cwd=str(request_file),
    )
    failures = []
    for name, run in zip(names, runs):
        why = bounded(run)
        lines = run.stderr.strip().splitlines()
        if why is None and run.returncode != 1:
            why = "did not fail"
        if why is None and (len(lines) != 1 or "chat_template" not in lines[0] or not re.search(TEMPLATES[name][1], lines[0])):
            why = "not one line naming the template and the limit"
        if why:
            failures.append(f"{name}: {why}\n{run}")
    assert not failures, "\n\n".join(failures)


def test_detect_on_a_gguf_with_a_hostile_template_is_bounded(tmp_path):
    deep = "{% if tools %}" + "{{ " + "(" * 20000 + "1" + ")" * 20000 + " }}" + "{% endif %}"
    huge = "{{ tools }}" + "{% if true %}x{% endif %}" * 200000  # 5 MB to parse
    for name, template in (("deep", deep), ("huge", huge)):
        path = build_tiny_model(tmp_path / f"{name}.gguf", chat_template=template, n_embd=16, n_layer=1, n_head=1, n_ff=16)
        run = run_measured(["detect", str(path)])
        assert bounded(run) is None, f"{name}: {bounded(run)}\n{run}"
        assert run.returncode in (0, 1), run
        assert len(run.stderr.strip().splitlines()) <= 1, run


def test_inferring_a_spec_from_a_hostile_template_stops_at_the_first_limit(tmp_path):
    (tmp_path / "slow.jinja").write_text("{{ tools }}" + TEMPLATES["macro fan-out"][0], encoding="utf-8")
    run = run_measured(["new", "foo", "--from-template", str(tmp_path / "slow.jinja")])
    assert bounded(run) is None, f"{bounded(run)}\n{run}"
    assert run.seconds < 20, run  # one time limit, not one per probe
    assert "stopped probing: chat_template: rendering exceeded the 5 s time limit" in run.stderr
