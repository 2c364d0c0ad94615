"""Bad input to any `formats` command ends in one line and exit status 1 (2 for usage errors),
never a traceback. Run as `python -m chatformats` in subprocesses; commands that load llama.cpp
fail before loading it, so the matrix stays fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "req.json").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}), encoding="utf-8")
    (d / "list.json").write_text("[1, 2]", encoding="utf-8")
    (d / "notjson.json").write_text("{nope", encoding="utf-8")
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (d / "latin1.bin").write_bytes(b"caf\xe9 \xff\xfe")
    (d / "broken.jinja").write_text("{% if %}", encoding="utf-8")
    (d / "out.txt").write_text("Hello.", encoding="utf-8")
    (d / "fake.gguf").write_text("not a model", encoding="utf-8")
    (d / "truncated.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 40)
    (d / "tools_object.json").write_text(json.dumps({"a": 1}), encoding="utf-8")
    return d


# (arguments, expected exit status, text the one line must contain); {d} is the files' folder
CASES = [
    ("render hermes --request {d}/missing.json", 1, "cannot read request"),
    ("render hermes --request {d}/latin1.bin", 1, "not UTF-8"),
    ("render hermes --request {d}/notjson.json", 1, "not valid JSON"),
    ("render hermes --request {d}/deep.json", 1, "nested too deeply"),
    ("render deepseek-r1 --request {d}/list.json", 1, "must be a JSON object"),
    ("render hermes --request {d}/req.json --template {d}/missing.jinja", 1, "cannot read template"),
    ("render hermes --request {d}/req.json --template {d}/latin1.bin", 1, "not UTF-8"),
    ("render hermes --request {d}/req.json --template {d}/broken.jinja", 1, "chat_template:1:"),
    ("render nope --request {d}/req.json", 1, "unknown format 'nope'"),
    ("render hermes --request {d}/req.json --specs {d}/nowhere", 1, "no such directory"),
    ("parse hermes {d}/missing.txt", 1, "cannot read model output"),
    ("parse hermes {d}/latin1.bin", 1, "not UTF-8"),
    ("parse hermes --tools {d}/missing.json {d}/out.txt", 1, "cannot read tools"),
    ("parse hermes --tools {d}/tools_object.json {d}/out.txt", 1, "tools must be a list"),
    ("parse hermes --tools {d}/latin1.bin {d}/out.txt", 1, "not UTF-8"),
    ("detect {d}/missing.jinja", 1, "no such file"),
    ("detect {d}/latin1.bin", 1, "not UTF-8"),
    ("detect {d}/broken.jinja", 1, ":1:"),
    ("detect {d}/fake.gguf", 1, "not a GGUF file"),
    ("detect {d}/truncated.gguf", 1, "not a readable GGUF"),
    ("tiny-model {d}/out.txt/x.gguf", 1, "cannot write"),
    ("tiny-model {d}/x.gguf --format nope", 1, "unknown format"),
    ("tiny-model {d}/x.gguf --format hermes", 1, "no template of its own"),
    ("tiny-model {d}/x.gguf --template {d}/missing.jinja", 1, "cannot read template"),
    ("demo nope", 1, "unknown format 'nope'"),
    ("chat --model {d}/missing.gguf hi", 1, "model file not found"),
    ("chat --model {d}/fake.gguf --format nope hi", 1, "unknown format"),
    ("chat --model {d}/fake.gguf --template {d}/latin1.bin hi", 1, "not UTF-8"),
    ("chat --model {d}/missing.gguf --tools {d}/missing.json hi", 1, "cannot read tools"),
    ("serve --model {d}/missing.gguf", 1, "model file not found"),
    ("serve --model {d}/fake.gguf --format nope", 1, "unknown format"),
    ("serve --backend http://127.0.0.1:9", 1, "llama-server at http://127.0.0.1:9"),
    ("list --specs {d}/nowhere", 1, "no such directory"),
    ("check --specs {d}/nowhere", 1, "no such directory"),
    ("check {d}/missing.yaml", 1, "cannot read"),
    ("check {d}/latin1.bin", 1, "not UTF-8"),
    ("new foo --from-template {d}/missing.jinja", 1, "cannot read template"),
    ("new foo --out {d}/out.txt/x.yaml", 1, "cannot write"),
    ("models nope", 1, "nope"),
    ("", 2, "required"),
    ("frobnicate", 2, "invalid choice"),
    ("parse", 2, "required"),
    ("render hermes", 2, "--request"),
    ("chat hi", 2, "--model"),
    ("parse hermes {d}/out.txt {d}/out.txt", 2, "unrecognized arguments"),
    ("demo --seed many", 2, "invalid int"),
    ("new 'Bad Name'", 2, "not a valid format name"),
]


def run(arguments: str, d: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    import shlex

    args = shlex.split(arguments.format(d=d))
    return subprocess.run(
        [sys.executable, "-m", "chatformats", *args],
        capture_output=True, text=True, timeout=120, cwd=d, env=env, stdin=subprocess.DEVNULL,
    )


def test_bad_arguments_end_in_one_line_and_an_exit_status(d, tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("CHATFORMATS_SPECS_PATH", None)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda case: run(case[0], d, env), CASES))
    failures = []
    for (arguments, status, text), result in zip(CASES, results):
        # `check` prints its problems on stdout and their count on stderr
        lines = [line for line in result.stderr.splitlines() if not line.startswith("checked ")]
        if arguments.startswith("check "):
            lines += result.stdout.splitlines()
        if "Traceback" in result.stderr or result.returncode != status or text not in "\n".join(lines):
            failures.append(f"formats {arguments}: exit {result.returncode} (want {status}):\n{result.stderr}{result.stdout}")
        elif status == 1 and len(lines) != 1:
            failures.append(f"formats {arguments}: more than one line:\n{result.stderr}")
    assert not failures, "\n\n".join(failures)


def test_a_bad_limit_setting_is_one_line(d, tmp_path):
    env = {**os.environ, "CHATFORMATS_TEMPLATE_TIMEOUT": "soon"}
    result = run("render hermes --request {d}/req.json --template {d}/broken.jinja", d, env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "CHATFORMATS_TEMPLATE_TIMEOUT must be a positive number, got 'soon'" in result.stderr
