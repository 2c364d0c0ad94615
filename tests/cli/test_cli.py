"""The `formats` console script, run as a user would."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORMATS = str(Path(sys.executable).parent / "formats")
GRANITE = ROOT / "docs" / "examples" / "granite.yaml"
BUILTINS = {
    "deepseek-r1",
    "deepseek-v3.1",
    "firefunction-v2",
    "functionary-v3.1",
    "functionary-v3.2",
    "generic",
    "hermes",
    "llama3",
    "mistral-nemo",
}


@pytest.fixture
def env(tmp_path):
    environ = dict(os.environ)
    environ["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    environ.pop("CHATFORMATS_SPECS_PATH", None)
    return environ


def formats(*args, env, input=None, check=True):
    result = subprocess.run(
        [FORMATS, *args], capture_output=True, text=True, env=env, input=input, encoding="utf-8"
    )
    if check and result.returncode != 0:
        raise AssertionError(f"formats {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def test_python_m_is_the_same_command(env):
    out = subprocess.run(
        [sys.executable, "-m", "chatformats", "list", "--json"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0
    assert {f["name"] for f in json.loads(out.stdout)["formats"]} >= BUILTINS


def test_list_shows_builtins_with_their_plugin(env):
    data = json.loads(formats("list", "--json", env=env).stdout)
    names = {f["name"]: f for f in data["formats"]}
    assert set(names) >= BUILTINS
    assert names["hermes"]["plugin"] == "chatformats.formats.builtin (built-in)"
    text = formats("list", env=env).stdout
    assert "hermes" in text and "from chatformats.formats.builtin" in text


def test_check_passes_on_builtins(env):
    result = formats("check", env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_naming_file_line_on_a_malformed_spec(env):
    bad = ROOT / "tests" / "spec" / "spec_errors" / "wrong_types.yaml"
    result = formats("check", str(bad), env=env, check=False)
    assert result.returncode == 1
    assert f"{bad}:5:13: detect.priority:" in result.stdout
    assert f"{bad}:10:14: tool_calls.max_calls:" in result.stdout


def test_check_reports_every_problem_as_json(env):
    result = formats("check", str(ROOT / "tests" / "spec" / "spec_errors"), "--json", env=env, check=False)
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) >= 9


def test_dropped_in_spec_works_with_no_python(env, tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(GRANITE, specs)
    env["CHATFORMATS_SPECS_PATH"] = str(specs)

    listed = json.loads(formats("list", "--json", env=env).stdout)
    granite = next(f for f in listed["formats"] if f["name"] == "granite")
    assert granite["origin"] == str(specs / "granite.yaml")

    assert formats("check", env=env, check=False).returncode == 0
    assert formats("check", str(specs / "granite.yaml"), env=env).returncode == 0

    output = '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Zürich"}}]'
    message = json.loads(formats("parse", "granite", env=env, input=output).stdout)
    assert message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"city": "Zürich"}

    template = tmp_path / "t.jinja"
    template.write_text(
        "{% for m in messages %}<|start_of_role|>{{ m.role }}<|end_of_role|>{{ m.content }}<|end_of_text|>\n"
        "{% endfor %}{% if tools %}<|tool_call|>{{ tools | tojson }}{% endif %}"
        "{% if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{% endif %}"
    )
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "messages": [{"role": "user", "content": "Weather in Paris?"}],
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        },
                    }
                ],
            }
        )
    )
    rendered = json.loads(
        formats("render", "granite", "--request", str(request), "--template", str(template), "--json", env=env).stdout
    )
    assert rendered["prompt"].endswith("<|start_of_role|>assistant<|end_of_role|>")
    assert "<|tool_call|>" in rendered["triggers"]["words"]
    assert "get_weather" in rendered["grammar"]
    assert rendered["stop"] == ["<|end_of_text|>"]


def test_specs_option_loads_a_directory(env, tmp_path):
    shutil.copy(GRANITE, tmp_path)
    listed = json.loads(formats("list", "--json", "--specs", str(tmp_path), env=env).stdout)
    assert "granite" in {f["name"] for f in listed["formats"]}


@pytest.mark.parametrize(
    "fmt, output, expected_calls, expected_content",
    [
        ("hermes", "Hi there", 0, "Hi there"),
        ("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', 1, None),
        (
            "hermes",
            '<tool_call>\n{"name": "a", "arguments": {"x": {"y": [1, 2]}}}\n</tool_call>\n'
            '<tool_call>\n{"name": "b", "arguments": {"s": "東京"}}\n</tool_call>',
            2,
            None,
        ),
        ("hermes", 'JSON like {"name": "a", "arguments": {}} is prose.', 0, 'JSON like {"name": "a", "arguments": {}} is prose.'),
        ("hermes", "I mention <tool_call> but make no call.", 0, "I mention <tool_call> but make no call."),
        ("generic", '{"response": "Hello"}', 0, "Hello"),
        ("generic", '{"tool_call": {"name": "a", "arguments": {"k": "ü"}}}', 1, None),
        ("generic", '{"tool_calls": [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]}', 2, None),
        ("generic", "not json at all", 0, "not json at all"),
    ],
)
def test_parse(env, fmt, output, expected_calls, expected_content):
    message = json.loads(formats("parse", fmt, env=env, input=output).stdout)
    assert len(message.get("tool_calls") or []) == expected_calls
    assert message["content"] == expected_content


def test_parse_reasoning(env):
    output = "<think>\nLet me see.\n</think>\n\nParis."
    message = json.loads(formats("parse", "hermes", env=env, input=output).stdout)
    assert message["reasoning_content"] == "Let me see."
    assert message["content"] == "Paris."


def test_schema_is_json_schema(env):
    schema = json.loads(formats("schema", env=env).stdout)
    assert schema["title"] == "chatformats spec"
    assert "tool_calls" in schema["properties"]


def test_unknown_format_is_a_clear_error(env):
    result = formats("parse", "nope", env=env, input="x", check=False)
    assert result.returncode != 0
    assert "unknown format 'nope'" in result.stderr
