"""The sandboxed Jinja environment: HF apply_chat_template behaviour, errors with lines, sandbox."""

from __future__ import annotations

import pickle
from datetime import datetime

import pytest

from chatformats.prompt.template import (
    ChatTemplate,
    TemplateError,
    TemplateRaised,
    compile_expression,
    compile_template,
    evaluate_expression,
    template_references_tools,
)


def render(source: str, **context) -> str:
    return compile_template(source).render(**context)


def test_trim_and_lstrip_blocks_like_hf():
    source = "{% for m in messages %}\n    {% if m %}\n{{ m }}\n    {% endif %}\n{% endfor %}"
    assert render(source, messages=["a", "b"]) == "a\nb\n"


def test_loopcontrols_break_and_continue():
    source = (
        "{% for i in range(6) %}{% if i == 1 %}{% continue %}{% endif %}"
        "{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"
    )
    assert render(source) == "023"


class TestToJson:
    def test_non_ascii_and_no_html_escaping(self):
        assert render("{{ x|tojson }}", x={"a": "é<b>&'"}) == '{"a": "é<b>&\'"}'

    def test_indent(self):
        assert render("{{ x|tojson(indent=2) }}", x={"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'

    def test_separators_and_sort_keys(self):
        out = render("{{ x|tojson(separators=[',', ':'], sort_keys=true) }}", x={"b": 1, "a": 2})
        assert out == '{"a":2,"b":1}'

    def test_generator_from_map_becomes_list(self):
        tools = [{"function": {"name": "f"}}, {"function": {"name": "g"}}]
        out = render("{{ tools|map(attribute='function')|tojson }}", tools=tools)
        assert out == '[{"name": "f"}, {"name": "g"}]'

    def test_nested_generator_and_tuple(self):
        out = render("{{ {'a': xs|select('odd'), 'b': (1, 2)}|tojson }}", xs=[1, 2, 3])
        assert out == '{"a": [1, 3], "b": [1, 2]}'

    def test_undefined_is_null(self):
        assert render("{{ missing|tojson }} {{ {'k': missing}|tojson }}") == 'null {"k": null}'

    def test_unserialisable_object_is_a_template_error(self):
        with pytest.raises(TemplateError, match="not JSON serializable"):
            render("{{ x|tojson }}", x=object())


class TestGlobals:
    def test_raise_exception_carries_the_message_and_line(self):
        source = "ok\n{% if bad %}\n{{ raise_exception('Roles must alternate') }}\n{% endif %}"
        template = compile_template(source, "t.jinja")
        assert template.render(bad=False) == "ok\n"
        with pytest.raises(TemplateRaised) as info:
            template.render(bad=True)
        assert info.value.message == "Roles must alternate"
        assert info.value.lineno == 3
        assert str(info.value) == "t.jinja:3: Roles must alternate"
        assert isinstance(info.value, TemplateError)

    def test_strftime_now(self):
        assert render("{{ strftime_now('%Y') }}") == str(datetime.now().year)


class TestErrors:
    def test_syntax_error_has_name_and_line(self):
        with pytest.raises(TemplateError) as info:
            compile_template("line one\nline two\n{% if x %}\nno endif\n", "broken.jinja")
        error = info.value
        assert error.name == "broken.jinja"
        assert error.lineno is not None and error.lineno >= 3
        assert str(error).startswith(f"broken.jinja:{error.lineno}: ")

    def test_unknown_tag_line(self):
        with pytest.raises(TemplateError) as info:
            compile_template("a\nb\n{% frobnicate %}", "x")
        assert info.value.lineno == 3

    def test_runtime_error_reports_the_template_line(self):
        template = compile_template("{{ 'a' }}\n{{ 'b' }}\n{{ 'c' + 1 }}\n", "concat.jinja")
        with pytest.raises(TemplateError) as info:
            template.render()
        assert info.value.lineno == 3
        assert "TypeError" in info.value.message
        assert str(info.value).startswith("concat.jinja:3: TypeError")

    def test_runtime_error_inside_a_macro_reports_the_macro_line(self):
        source = "{% macro f(x) %}\n{{ x.a.b }}\n{% endmacro %}\n\n\n{{ f({}) }}"
        with pytest.raises(TemplateError) as info:
            compile_template(source, "macro.jinja").render()
        assert info.value.lineno == 2
        assert "UndefinedError" in info.value.message

    def test_error_is_picklable(self):
        error = TemplateError("boom", "n", 4)
        assert str(pickle.loads(pickle.dumps(error))) == "n:4: boom"

    def test_unknown_line(self):
        assert str(TemplateError("boom", "n")) == "n: boom"


class TestSandbox:
    @pytest.mark.parametrize(
        "source",
        [
            "{{ ''.__class__.__mro__ }}",
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "{{ cycler.__init__.__globals__ }}",
            "{{ raise_exception.__globals__ }}",
            "{{ messages.__class__ }}",
        ],
    )
    def test_dunder_access_is_blocked(self, source):
        with pytest.raises(TemplateError, match="sandbox|unsafe"):
            render(source, messages=[])

    def test_mutating_a_passed_list_is_blocked(self):
        messages = [1]
        with pytest.raises(TemplateError):
            render("{{ messages.append(2) }}", messages=messages)
        assert messages == [1]

    def test_huge_repetition_is_blocked(self):
        with pytest.raises(TemplateError, match="repetition"):
            render("{{ 'x' * 100000000 }}")
        assert render("{{ '  ' * 3 }}|") == "      |"

    def test_huge_power_is_blocked(self):
        with pytest.raises(TemplateError, match="exponent"):
            render("{{ 9 ** 99999999 }}")


class TestToolsReference:
    def test_reads_tools(self):
        assert template_references_tools("{% if tools %}{{ tools|tojson }}{% endif %}")

    def test_reads_functions(self):
        assert template_references_tools("{{ functions }}")

    def test_reads_custom_tools(self):
        assert template_references_tools("{% if custom_tools is defined %}x{% endif %}")

    def test_no_tools(self):
        assert not template_references_tools("{% for m in messages %}{{ m.content }}{% endfor %}")

    def test_locally_set_tools_do_not_count(self):
        assert not template_references_tools("{% set tools = [] %}{{ tools }}")

    def test_syntax_error(self):
        with pytest.raises(TemplateError):
            template_references_tools("{% if %}")


def test_compiled_templates_are_cached():
    source = "{{ messages|length }}"
    first = compile_template(source, "cached")
    assert isinstance(first, ChatTemplate)
    assert compile_template(source, "cached") is first


def test_compile_expression():
    evaluate = compile_expression("tools | map(attribute='function') | list | tojson(indent=2)")
    out = evaluate(tools=[{"function": {"name": "f"}}])
    assert out == '[\n  {\n    "name": "f"\n  }\n]'
    assert compile_expression("missing")() is None
    with pytest.raises(TemplateError, match="expr-name"):
        compile_expression("1 +", "expr-name")
    with pytest.raises(TemplateError, match="sandbox"):
        compile_expression("x.__class__.__mro__", "e")(x="")


def test_evaluate_expression():
    assert evaluate_expression("messages | length", messages=[1, 2]) == 2
    assert evaluate_expression("tools | map(attribute='n') | list", tools=[{"n": "a"}]) == ["a"]
    assert evaluate_expression("strftime_now('%Y')") == str(datetime.now().year)
    assert evaluate_expression("undefined_name") is None
    with pytest.raises(TemplateError, match="sandbox"):
        evaluate_expression("''.__class__.__mro__")


def test_generation_block_renders_its_body():
    # HF's {% generation %} marks assistant text for training masks; a prompt just shows it.
    source = "{% for m in messages %}{% generation %}{{ m }}{% endgeneration %};{% endfor %}"
    assert render(source, messages=["a", "b"]) == "a;b;"


def test_source_date_epoch_pins_strftime_now(monkeypatch):
    from chatformats.prompt.template import strftime_now

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    assert strftime_now("%d %b %Y") == "01 Jan 2025"
