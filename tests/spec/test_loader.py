"""Spec loading: golden error messages with file:line:col, schema export in sync."""

import json
from pathlib import Path

import pytest

from chatformats.spec import SpecError, load_spec_file, parse_spec_text
from chatformats.spec import json_schema

HERE = Path(__file__).parent
ERRORS = HERE / "spec_errors"
ROOT = HERE.parent.parent


@pytest.mark.parametrize("name", sorted(p.stem for p in ERRORS.glob("*.yaml")))
def test_bad_spec_reports_every_problem_with_position(name, monkeypatch):
    monkeypatch.chdir(ERRORS)
    with pytest.raises(SpecError) as info:
        load_spec_file(f"{name}.yaml")
    expected = (ERRORS / f"{name}.expected").read_text(encoding="utf-8")
    assert str(info.value) + "\n" == expected


def test_every_problem_is_reported_not_just_the_first():
    with pytest.raises(SpecError) as info:
        load_spec_file(ERRORS / "wrong_types.yaml")
    assert [p.field for p in info.value.problems] == [
        "detect.priority",
        "inputs.arguments",
        "tool_calls.max_calls",
    ]


def test_unreadable_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec_file(tmp_path / "absent.yaml")


def test_top_level_must_be_a_mapping():
    with pytest.raises(SpecError, match=":1:1: a spec file must be a YAML mapping"):
        parse_spec_text("- a\n- b\n", "list.yaml")


def test_builtin_specs_load():
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = load_spec_file(path)
        assert spec.name == path.stem


def test_committed_json_schema_is_current():
    committed = json.loads((ROOT / "docs" / "spec.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run: formats schema > docs/spec.schema.json"
