"""docs/hooks.md must agree with core/hooks/hookspecs.py: every hook has an entry with its exact
signature, its result policy (firstresult) and every parameter."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOKS_MD = REPO / "docs" / "hooks.md"
HOOKSPECS = REPO / "core" / "hooks" / "hookspecs.py"


def _normal(text: str) -> str:
    """Annotations compared as code, with string quotes dropped ('Format' == "Format")."""
    return text.replace('"', "").replace("'", "")


def _signature(node: ast.FunctionDef) -> str:
    returns = ast.unparse(node.returns) if node.returns else "None"
    return _normal(f"def {node.name}({ast.unparse(node.args)}) -> {returns}:")


def hookspecs() -> dict[str, tuple[str, bool, list[str]]]:
    """name -> (signature, firstresult, params) read from the source."""
    specs = {}
    for node in ast.parse(HOOKSPECS.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Name) and target.id == "hookspec":
                first = isinstance(decorator, ast.Call) and any(
                    k.arg == "firstresult" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in decorator.keywords
                )
                specs[node.name] = (_signature(node), first, [a.arg for a in node.args.args])
    return specs


def doc_sections() -> dict[str, str]:
    text = HOOKS_MD.read_text(encoding="utf-8")
    parts = re.split(r"^## +", text, flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def doc_signature(section: str, name: str) -> str:
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        source = block.strip()
        if source.startswith(f"def {name}("):
            node = ast.parse(source + "\n    ...").body[0]
            return _signature(node)
    raise AssertionError(f"docs/hooks.md: ## {name} has no ```python block `def {name}(...) -> ...:`")


SPECS = hookspecs()


def test_hookspecs_found():
    assert {"register_formats", "parse_output"} <= set(SPECS)


def test_every_hook_has_an_entry_and_no_stale_entries():
    documented = set(doc_sections())
    missing = set(SPECS) - documented
    assert not missing, f"docs/hooks.md has no entry for {sorted(missing)}"
    stale = {s for s in documented if s not in SPECS}
    assert not stale, f"docs/hooks.md documents hooks that core/hooks/hookspecs.py lacks: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_signature_result_policy_and_params_match(name):
    signature, firstresult, params = SPECS[name]
    section = doc_sections().get(name)
    assert section is not None, f"docs/hooks.md has no entry for {name}"
    assert doc_signature(section, name) == signature, f"docs/hooks.md: {name} signature differs from core/hooks/hookspecs.py"
    flags = re.findall(r"firstresult=(True|False)", section)
    assert flags, f"docs/hooks.md: {name} does not state its result policy (firstresult=...)"
    assert flags[0] == str(firstresult), f"docs/hooks.md: {name} says firstresult={flags[0]}, hookspecs says {firstresult}"
    for param in params:
        assert re.search(rf"^\| `{param}` \|", section, flags=re.M), f"docs/hooks.md: {name} does not describe `{param}`"


def test_writing_a_format_exists_and_links_the_hooks():
    text = (REPO / "docs" / "writing-a-format.md").read_text(encoding="utf-8")
    assert text.startswith("# Writing a format")
    assert "hooks.md" in text
    for needle in ("formats new", "--from-template", "formats check", "chatformats_conformance", "entry-points"):
        assert needle in text, f"docs/writing-a-format.md does not mention {needle}"
