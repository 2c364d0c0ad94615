"""core/ is laid out by its seams, and imports only go down them:

    spec  <-  prompt | grammar | output  <-  hooks  <-  llama  <-  testing  <-  authoring  <-  cli

prompt, grammar and output import only spec (and not each other); the llama.cpp host never imports
the tooling (testing, authoring, cli); no seam imports one above it, so there is no import cycle.
Every import counts, those inside functions too. The package's own __init__ wires them together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core"

# seam -> the seams it may import
ALLOWED = {
    "spec": set(),
    "prompt": {"spec"},
    "grammar": {"spec"},
    "output": {"spec"},
    "hooks": {"spec", "prompt", "grammar", "output"},
    "llama": {"spec", "prompt", "grammar", "output", "hooks"},
    "testing": {"spec", "prompt", "grammar", "output", "hooks", "llama"},
    "authoring": {"spec", "prompt", "grammar", "output", "hooks", "llama", "testing"},
    "cli": {"spec", "prompt", "grammar", "output", "hooks", "llama", "testing", "authoring"},
    "compat": set(),
}


def seam_of(module: str) -> str | None:
    """'chatformats.prompt.render' -> 'prompt'; None for the package itself and the rest."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "chatformats" and parts[1] in ALLOWED else None


def module_name(path: Path) -> str:
    rel = path.relative_to(CORE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["chatformats", *parts])


def imports(path: Path) -> set[str]:
    """Every module `path` imports, resolved to absolute names (relative imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def test_every_module_sits_in_a_seam_folder():
    loose = sorted(p.name for p in CORE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not loose, f"modules at the top of core/: {loose}"
    folders = {p.name for p in CORE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(ALLOWED), folders


@pytest.mark.parametrize("seam", sorted(ALLOWED))
def test_imports_go_down_the_seams(seam):
    wrong = []
    for path in sorted((CORE / seam).rglob("*.py")):
        for target in imports(path):
            other = seam_of(target)
            if other is not None and other != seam and other not in ALLOWED[seam]:
                wrong.append(f"{module_name(path)} imports {target}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_allowed_graph_has_no_cycle():
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(seam: str, path: list[str]) -> None:
        assert seam not in visiting, " -> ".join(path + [seam])
        if seam in done:
            return
        visiting.add(seam)
        for below in ALLOWED[seam]:
            visit(below, path + [seam])
        visiting.discard(seam)
        done.add(seam)

    for seam in ALLOWED:
        visit(seam, [])
