"""Every `formats ...` command line in README.md's code blocks works as written: each shape, with
its options left out and put in (each alternative of `[A | B]`), filled with real files, is
accepted; commands that would load a model or start a server are run on a missing model and must
fail with one line, and `demo` is only parsed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chatformats.cli import _parse, build_parser
from chatformats.testing.tiny_model import ensure_tiny_model

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{{ tools|tojson if tools }}"


def readme_shapes() -> list[str]:
    shapes, block = [], False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = not block
            continue
        match = re.search(r"(?:^|[\s/])(formats (?:[a-z-]+).*)$", line) if block else None
        if match and not line.lstrip().startswith(("#", "detect:", "examples:", "from ")):
            shapes.append(re.split(r"\s{2,}", match.group(1).strip())[0])  # drop the description
    return shapes


def _group(tokens: list[str], i: int) -> tuple[list[list], int]:
    """Alternatives of a sequence up to the matching `]` (or the end)."""
    alternatives: list[list] = [[]]
    while i < len(tokens):
        token = tokens[i]
        if token == "]":
            return alternatives, i + 1
        if token == "[":
            inner, i = _group(tokens, i + 1)
            alternatives[-1].append(inner)
            continue
        if token == "|":
            alternatives.append([])
        else:
            alternatives[-1].append(token)
        i += 1
    return alternatives, i


def expand(shape: str, pick: int | None) -> list[str]:
    """The shape with optional groups left out (`pick` None) or in, taking alternative `pick`."""
    tokens = re.findall(r'\[|\]|\||"[^"]*"|[^\s\[\]|]+(?:\|[^\s\[\]|]+)*', shape)
    sequence = _group(tokens, 0)[0][0]

    def walk(items: list) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, list):
                if pick is not None:
                    out += walk(item[min(pick, len(item) - 1)])
            elif item != "...":
                out.append(item)
        return out

    return walk(sequence)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("readme")
    (d / "t.jinja").write_text(TEMPLATE, encoding="utf-8")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    (d / "tools.json").write_text(json.dumps(tools), encoding="utf-8")
    (d / "r.json").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}], "tools": tools}), encoding="utf-8")
    (d / "out.txt").write_text("Hello.", encoding="utf-8")
    (d / "spec.yaml").write_text((ROOT / "docs" / "examples" / "granite.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return {
        "FORMAT": "deepseek-r1",  # has a template of its own: render works without --template
        "R.json": str(d / "r.json"),
        "T.jinja": str(d / "t.jinja"),
        "FILE.jinja": str(d / "t.jinja"),
        "TEMPLATE.jinja|MODEL.gguf": str(d / "t.jinja"),
        "TOOLS.json": str(d / "tools.json"),
        "FILE|-": str(d / "out.txt"),
        "-": "-",
        "MODEL.gguf": str(ensure_tiny_model(chat_template=TEMPLATE)),
        "PATH...": str(d / "spec.yaml"),
        "OUT.gguf": str(d / "tiny.gguf"),
        "FILE": str(d / "new.yaml"),
        "MODEL": str(d / "missing.gguf"),
        "URL": "http://127.0.0.1:9",
        "N": "2",
        "FORMAT...": "hermes",
        '"message"': "hi",
    }


def fill(command: list[str], files: dict[str, str]) -> list[str]:
    out = []
    for i, token in enumerate(command):
        previous = command[i - 1] if i else ""
        if token not in files and "|" in token:  # TEMPLATE.jinja|MODEL.gguf: the alternative taken
            token = token.split("|")[-1]
        if token == "NAME":
            out.append({"new": "my-format", "models": "smollm2-135m", "tiny-model": "deepseek-r1"}.get(command[1], "hermes"))
        elif token == "FILE" and previous == "--template":
            out.append(files["T.jinja"])
        else:
            out.append(files.get(token, token))
    return out


SHAPES = readme_shapes()
# each shape without its options, with them, with the other alternatives: the distinct ones
COMMANDS = list(dict.fromkeys(
    " ".join(expand(shape, pick) if pick != 1 else [t.split("|")[-1] for t in expand(shape, 1)])
    for shape in SHAPES for pick in (None, 0, 1)
))


def test_the_readme_has_the_command_list():
    assert len({s.split()[1] for s in SHAPES}) >= 12, SHAPES


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_shape_works(command, files):
    command = fill(re.findall(r'"[^"]*"|\S+', command), files)
    args = command[1:]
    _parse(build_parser(), args)  # argparse accepts it as written (SystemExit otherwise)
    name = args[0]
    if name == "demo":
        return  # runs every format on llama.cpp: parsing is what the shape promises
    result = subprocess.run(
        [sys.executable, "-m", "chatformats", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, input="Hello.",
    )
    assert "Traceback" not in result.stderr, result.stderr
    if name in ("chat", "serve"):  # on a missing model (or an unreachable llama-server): one line
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    elif name == "models" and len(args) > 1:
        assert result.returncode in (0, 1), result.stderr  # 1 with a message when not installed
    else:
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stderr}"
