"""Every built-in format has a test file here (with its spec's examples), and every real template
is rendered by exactly one of them: the format `formats detect` picks for it, or `generic`."""

from __future__ import annotations

import importlib
from pathlib import Path

from parse_helpers import BUILTIN, EXAMPLES, real
from render_helpers import needs_templates, template_files

HERE = Path(__file__).parent


def module_name(format_name: str) -> str:
    return "test_" + format_name.replace("-", "_").replace(".", "_")


def test_every_builtin_format_has_a_test_file_and_examples():
    assert {name for name, _ in EXAMPLES} == set(BUILTIN)
    missing = [name for name in BUILTIN if not (HERE / f"{module_name(name)}.py").exists()]
    assert not missing, f"add tests/formats/<test file> for: {missing}"


def test_every_reference_template_is_rendered_by_its_format():
    for name in BUILTIN:
        rendered = importlib.import_module(module_name(name)).RENDER
        assert set(real(name).reference_templates) <= set(rendered), name


@needs_templates
def test_every_template_has_a_render_case():
    owners: dict[str, list[str]] = {}
    for name in BUILTIN:
        for template in importlib.import_module(module_name(name)).RENDER:
            owners.setdefault(template, []).append(name)
    missing = [t for t in template_files() if t not in owners]
    assert not missing, f"add a render case for: {missing}"
    assert all(len(names) == 1 for names in owners.values()), owners
