"""`formats new`: the skeleton loads; specs inferred from real templates have the right shape
and pass conformance with that template; templates that raise give notes, not tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatformats.authoring import check_inferred, infer_spec, skeleton_yaml, spec_yaml
from chatformats.cli import main
from chatformats.testing.templates import shared_templates_path
from chatformats.spec import load_spec_file, parse_spec_text

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = shared_templates_path()


def template(name: str) -> Path:
    path = TEMPLATES / name
    if not path.exists():
        pytest.skip(f"real chat template {name} not found in {TEMPLATES} (set CHATFORMATS_TEMPLATES_DIR)")
    return path


def builtin(name: str):
    return load_spec_file(REPO / "specs" / f"{name}.yaml")


# -- skeleton ------------------------------------------------------------------------------------


def test_skeleton_loads_and_checks(tmp_path, capsys):
    out = tmp_path / "my-format.yaml"
    assert main(["new", "my-format", "--out", str(out)]) == 0
    spec = load_spec_file(out)
    assert spec.name == "my-format"
    assert spec.examples, "the skeleton carries examples for `formats check`"
    assert "#" in out.read_text(), "the skeleton is commented"
    capsys.readouterr()
    assert main(["check", str(out)]) == 0, capsys.readouterr().out


def test_skeleton_to_stdout(capsys):
    assert main(["new", "other.fmt"]) == 0
    assert parse_spec_text(capsys.readouterr().out).name == "other.fmt"
    assert parse_spec_text(skeleton_yaml("x1")).name == "x1"


def test_bad_name_is_a_clear_error(capsys):
    assert main(["new", "Bad Name"]) == 2
    assert "not a valid format name" in capsys.readouterr().err


# -- inference on real templates --------------------------------------------------------------


def _same_shape(inferred, expected, fields):
    for field in fields:
        got, want = inferred.tool_calls, expected.tool_calls
        for part in field.split("."):
            got, want = getattr(got, part), getattr(want, part)
        assert got == want, f"tool_calls.{field}: inferred {got!r}, specs/ has {want!r}"


CASES = {
    # template: (built-in spec, tool_calls fields that must agree with it)
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": (
        "hermes",
        ["call.begin", "call.end", "separator", "body", "json_body.name_key", "json_body.arguments_key", "array"],
    ),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": (
        "mistral-nemo",
        ["section.begin", "array", "body", "json_body.name_key", "json_body.arguments_key", "json_body.id_key", "ids.style"],
    ),
    "meetkai-functionary-medium-v3.1.jinja": (
        "functionary-v3.1",
        ["call.begin", "call.end", "body", "name_body.name_suffix"],
    ),
    "fireworks-ai-llama-3-firefunction-v2.jinja": (
        "firefunction-v2",
        ["section.begin", "array", "body", "json_body.name_key", "json_body.arguments_key"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_infers_the_builtin_shape_and_conforms(name):
    path = template(name)
    builtin_name, fields = CASES[name]
    expected = builtin(builtin_name)
    source = path.read_text(encoding="utf-8")
    result = infer_spec(source, "inferred")
    assert result.spec is not None, result.notes
    assert result.shows_tool_calls
    _same_shape(result.spec, expected, fields)
    assert result.spec.inputs.arguments == expected.inputs.arguments
    assert set(result.spec.stop) <= set(expected.stop)
    problems = check_inferred(result, source, template_path=str(path))
    assert problems == [], "\n".join(problems)


def test_firefunction_gets_its_template_variables():
    result = infer_spec(template("fireworks-ai-llama-3-firefunction-v2.jinja").read_text(), "ff")
    assert set(result.spec.inputs.variables) == {"functions", "datetime"}


def test_command_r7b_reasoning_field_ids_and_content_markers():
    result = infer_spec(template("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja").read_text(), "r7b")
    spec = result.spec
    assert spec.inputs.reasoning_field == "tool_plan"
    assert (spec.reasoning.begin, spec.reasoning.end) == ("<|START_THINKING|>", "<|END_THINKING|>")
    assert spec.tool_calls.ids.style == "index"
    assert spec.tool_calls.content.begin == "<|START_RESPONSE|>"
    assert spec.detect.markers == ["<|START_ACTION|>"]


def test_single_call_template_gets_max_calls_and_anchored():
    source = template("meta-llama-Llama-3.1-8B-Instruct.jinja").read_text()
    result = infer_spec(source, "l31")
    tc = result.spec.tool_calls
    assert (tc.max_calls, tc.anchored, tc.json_body.arguments_key) == (1, True, "parameters")
    assert any("two calls" in n for n in result.notes)
    assert check_inferred(result, source) == []


def test_unclosed_single_call_is_section_end_optional():
    source = template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja").read_text()
    result = infer_spec(source, "r1")
    assert result.spec.tool_calls.section_end_optional
    assert any("does not show the tool list" in n for n in result.notes)


# -- templates that raise or cannot show calls ----------------------------------------------------


def test_template_raising_on_system_gives_merge_and_notes():
    result = infer_spec(template("google-gemma-2-2b-it.jinja").read_text(), "gemma")
    assert result.spec is not None  # a placeholder that loads, so the author can edit it
    assert result.spec.inputs.system == "merge_into_first_user"
    assert not result.shows_tool_calls
    assert any("cannot show a tool call" in n for n in result.notes)


def test_broken_and_raising_templates_never_raise():
    broken = infer_spec("{% for m in messages %}{{ m.content }", "broken")
    assert any("does not compile" in n for n in broken.notes)
    raising = infer_spec("{{ raise_exception('no way') }}", "raising")
    assert any("no way" in n for n in raising.notes)
    assert not raising.shows_tool_calls


def test_cli_from_template_writes_loadable_yaml(tmp_path, capsys):
    path = template("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja")
    out = tmp_path / "hermes-inferred.yaml"
    assert main(["new", "hermes-inferred", "--from-template", str(path), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "conformance: passed" in err
    spec = load_spec_file(out)
    assert {e.name for e in spec.examples} >= {"one call (probe)", "two calls (probe)"}
    assert main(["check", str(out)]) == 0


def test_cli_json_report(capsys):
    path = template("meetkai-functionary-medium-v3.1.jinja")
    assert main(["new", "fv31", "--from-template", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conformance"] == []
    assert report["spec"]["tool_calls"]["body"] == "name"
    assert parse_spec_text(report["yaml"]).name == "fv31"


def test_yaml_keeps_exact_markers():
    result = infer_spec(template("Qwen-Qwen2.5-7B-Instruct.jinja").read_text(), "qwen")
    spec = parse_spec_text(spec_yaml(result))
    assert spec.tool_calls.call.begin == "<tool_call>\n"
    assert spec == result.spec
