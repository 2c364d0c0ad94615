"""OpenAI request -> prompt: each polyfill, each request error, template choice. (Every real
template rendered with its format's spec: tests/formats/test_<name>.py.)"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from typing import Any

import pytest

from chatformats.prompt import (
    RequestError,
    choose_template,
    prepare_context,
    render_prompt,
    validate_request,
)
from chatformats.prompt.template import TemplateError
from render_helpers import (
    BRAVE,
    RESULT_TEXT,
    SPECIAL,
    SYSTEM_TEXT,
    USER,
    USER_TEXT,
    call,
    conversation,
    make_spec,
    needs_templates,
    read_template,
    real_spec,
    tool,
)

OBJ = {"arguments": "object"}
STR = {"arguments": "string"}
ALNUM9 = {"ids": {"style": "alnum9"}}
LLAMA_BUILTINS = {
    "special_tools": [
        {
            "names": ["brave_search", "wolfram_alpha"],
            "body": "python_call",
            "render_variable": "builtin_tools",
        }
    ]
}


@needs_templates
def test_template_wants_reads_each_family():
    from chatformats.prompt import template_wants

    assert template_wants(read_template("llama-cpp-deepseek-r1.jinja")) == ("string", "null")
    assert template_wants(read_template("vllm-tool_chat_template_deepseekr1.jinja")) == (
        "object",
        "empty",
    )
    assert template_wants(read_template("Qwen-Qwen2.5-7B-Instruct.jinja")) == ("object", "null")
    assert template_wants(read_template("Qwen-Qwen3-0.6B.jinja"))[1] == "empty"


# --------------------------------------------------------------------------------------------
# Polyfills
# --------------------------------------------------------------------------------------------


def assistant_call(context: dict) -> dict:
    return next(m for m in context["messages"] if m.get("tool_calls"))


class TestArguments:
    def test_object_mode_parses_the_json_string(self):
        context = prepare_context(make_spec(OBJ), {"messages": conversation()})
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == {"arg1": 1}

    def test_object_mode_accepts_a_dict(self):
        request = {"messages": [{"role": "assistant", "tool_calls": [call(arguments={"a": [1]})]}]}
        context = prepare_context(make_spec(OBJ), request)
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == {"a": [1]}

    def test_string_mode_keeps_the_text(self):
        text = '{"arg1":1,  "b": "é"}'
        request = {"messages": [{"role": "assistant", "tool_calls": [call(arguments=text)]}]}
        context = prepare_context(make_spec(STR), request)
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == text

    def test_string_mode_dumps_a_dict(self):
        request = {"messages": [{"role": "assistant", "tool_calls": [call(arguments={"a": "é"})]}]}
        context = prepare_context(make_spec(STR), request)
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == '{"a": "é"}'

    @pytest.mark.parametrize("mode, expected", [("object", {}), ("string", "{}")])
    def test_empty_arguments_mean_no_arguments(self, mode, expected):
        request = {"messages": [{"role": "assistant", "tool_calls": [call(arguments="")]}]}
        context = prepare_context(make_spec({"arguments": mode}), request)
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == expected

    def test_function_keeps_name_first(self):
        context = prepare_context(make_spec(OBJ), {"messages": conversation()})
        function = assistant_call(context)["tool_calls"][0]["function"]
        assert list(function) == ["name", "arguments"]


class TestContentWithToolCalls:
    @pytest.mark.parametrize("given", [None, "", "absent"])
    @pytest.mark.parametrize("mode, expected", [("null", None), ("empty", "")])
    def test_empty_content(self, given, mode, expected):
        message = {"role": "assistant", "tool_calls": [call()]}
        if given != "absent":
            message["content"] = given
        spec = make_spec({"content_with_tool_calls": mode})
        context = prepare_context(spec, {"messages": [message]})
        assert context["messages"][0]["content"] == expected

    def test_text_is_kept(self):
        message = {"role": "assistant", "content": "Let me check.", "tool_calls": [call()]}
        spec = make_spec({"content_with_tool_calls": "null"})
        context = prepare_context(spec, {"messages": [message]})
        assert context["messages"][0]["content"] == "Let me check."

    def test_plain_answer_with_null_content_becomes_empty(self):
        message = {"role": "assistant", "content": None, "tool_calls": []}
        context = prepare_context(make_spec(), {"messages": [message]})
        assert context["messages"][0] == {"role": "assistant", "content": ""}


class TestSystem:
    def test_native_keeps_the_system_message(self):
        context = prepare_context(make_spec(), {"messages": conversation()})
        assert context["messages"][0] == {"role": "system", "content": SYSTEM_TEXT}

    def test_merge_into_first_user(self):
        context = prepare_context(
            make_spec({"system": "merge_into_first_user"}), {"messages": conversation()}
        )
        assert [m["role"] for m in context["messages"]] == ["user", "assistant", "tool"]
        assert context["messages"][0]["content"] == f"{SYSTEM_TEXT}\n\n{USER_TEXT}"

    def test_merge_without_a_user_message(self):
        context = prepare_context(
            make_spec({"system": "merge_into_first_user"}),
            {"messages": [{"role": "system", "content": "S"}]},
        )
        assert context["messages"] == [{"role": "user", "content": "S"}]

    def test_developer_is_system(self):
        request = {"messages": [{"role": "developer", "content": "D"}]}
        context = prepare_context(make_spec(), request)
        assert context["messages"][0]["role"] == "system"


class TestSystemPrompt:
    SPEC_PROMPT = (
        "Tools: {{ tools | map(attribute='function.name') | join(',') }} parallel={{ parallel }}"
    )

    def spec(self, **inputs):
        return make_spec(inputs, system_prompt=self.SPEC_PROMPT)

    def test_prepended_to_the_system_message(self):
        request = {"messages": conversation(), "tools": [SPECIAL, BRAVE]}
        context = prepare_context(self.spec(), request)
        assert context["messages"][0]["content"] == (
            f"Tools: special_function,brave_search parallel=True\n\n{SYSTEM_TEXT}"
        )

    def test_added_as_a_system_message(self):
        request = {
            "messages": conversation(system=False),
            "tools": [SPECIAL],
            "parallel_tool_calls": False,
        }
        context = prepare_context(self.spec(), request)
        assert context["messages"][0] == {
            "role": "system",
            "content": "Tools: special_function parallel=False",
        }

    def test_merged_into_the_first_user_message(self):
        request = {"messages": conversation(system=False), "tools": [SPECIAL]}
        context = prepare_context(self.spec(system="merge_into_first_user"), request)
        assert context["messages"][0]["role"] == "user"
        assert context["messages"][0]["content"] == (
            f"Tools: special_function parallel=True\n\n{USER_TEXT}"
        )

    def test_absent_without_tools(self):
        context = prepare_context(self.spec(), {"messages": conversation()})
        assert context["messages"][0]["content"] == SYSTEM_TEXT

    def test_absent_with_tool_choice_none(self):
        request = {"messages": conversation(), "tools": [SPECIAL], "tool_choice": "none"}
        context = prepare_context(self.spec(), request)
        assert context["messages"][0]["content"] == SYSTEM_TEXT

    def test_error_names_the_system_prompt(self):
        spec = make_spec(system_prompt="{{ tools.__class__ }}")
        with pytest.raises(TemplateError, match="test:system_prompt"):
            prepare_context(spec, {"messages": conversation(), "tools": [SPECIAL]})


class TestToolMessages:
    def test_tool_role(self):
        context = prepare_context(make_spec({"tool_role": "ipython"}), {"messages": conversation()})
        assert context["messages"][-1]["role"] == "ipython"

    def test_name_is_filled_from_the_call(self):
        context = prepare_context(make_spec(), {"messages": conversation()})
        assert context["messages"][-1]["name"] == "special_function"

    def test_missing_tool_call_id_follows_call_order(self):
        request = {
            "messages": [
                {"role": "assistant", "tool_calls": [call(id="a"), call("other", id="b")]},
                {"role": "tool", "content": "1"},
                {"role": "tool", "content": "2"},
            ]
        }
        context = prepare_context(make_spec(), request)
        assert [m["tool_call_id"] for m in context["messages"][1:]] == ["a", "b"]
        assert [m["name"] for m in context["messages"][1:]] == ["special_function", "other"]


class TestIds:
    def request(self, *ids: str) -> dict:
        return {
            "messages": [
                {"role": "user", "content": "u"},
                {"role": "assistant", "tool_calls": [call(id=i) for i in ids]},
                *({"role": "tool", "tool_call_id": i, "content": "r"} for i in reversed(ids)),
            ]
        }

    def ids(self, context: dict) -> tuple[list[str], list[str]]:
        calls = [c["id"] for c in assistant_call(context)["tool_calls"]]
        results = [m["tool_call_id"] for m in context["messages"] if m["role"] == "tool"]
        return calls, results

    def test_random_keeps_ids(self):
        calls, results = self.ids(prepare_context(make_spec(), self.request("call_x", "call_y")))
        assert calls == ["call_x", "call_y"] and results == ["call_y", "call_x"]

    def test_alnum9(self):
        spec = make_spec(tool_calls=ALNUM9)
        request = self.request("call_abcdefghijkl", "abcDEF123", "x")
        calls, results = self.ids(prepare_context(spec, request))
        assert all(re.fullmatch(r"[A-Za-z0-9]{9}", i) for i in calls)
        assert calls[1] == "abcDEF123", "an id that already fits is kept"
        assert len(set(calls)) == 3
        assert results == list(reversed(calls))
        again, _ = self.ids(prepare_context(spec, copy.deepcopy(request)))
        assert again == calls, "the mapping is deterministic"

    def test_alnum9_keeps_distinct_ids_distinct(self):
        spec = make_spec(tool_calls=ALNUM9)
        many = [f"call_{i}" for i in range(200)]
        calls, results = self.ids(prepare_context(spec, self.request(*many)))
        assert len(set(calls)) == 200

    def test_index(self):
        spec = make_spec(tool_calls={"ids": {"style": "index"}})
        calls, results = self.ids(prepare_context(spec, self.request("call_a", "call_b")))
        assert calls == ["0", "1"] and results == ["1", "0"]

    def test_index_restarts_per_message(self):
        spec = make_spec(tool_calls={"ids": {"style": "index"}})
        request = {
            "messages": [
                {"role": "assistant", "tool_calls": [call(id="a")]},
                {"role": "tool", "tool_call_id": "a", "content": "1"},
                {"role": "assistant", "tool_calls": [call(id="b")]},
                {"role": "tool", "tool_call_id": "b", "content": "2"},
            ]
        }
        messages = prepare_context(spec, request)["messages"]
        assert [m["tool_calls"][0]["id"] for m in messages[::2]] == ["0", "0"]
        assert [m["tool_call_id"] for m in messages[1::2]] == ["0", "0"]


class TestToolsVariable:
    def test_none_without_tools(self):
        assert prepare_context(make_spec(), {"messages": conversation()})["tools"] is None
        request = {"messages": conversation(), "tools": []}
        assert prepare_context(make_spec(), request)["tools"] is None

    def test_none_with_tool_choice_none(self):
        request = {"messages": conversation(), "tools": [SPECIAL], "tool_choice": "none"}
        assert prepare_context(make_spec(), request)["tools"] is None

    def test_passed_through(self):
        request = {"messages": conversation(), "tools": [SPECIAL], "tool_choice": "required"}
        assert prepare_context(make_spec(), request)["tools"] == [SPECIAL]

    def test_missing_description_and_parameters_are_filled(self):
        request = {"messages": conversation(), "tools": [tool("bare")]}
        tools = prepare_context(make_spec(), request)["tools"]
        assert tools == [
            {
                "type": "function",
                "function": {
                    "name": "bare",
                    "description": "",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        ]

    def test_standard_variables(self):
        context = prepare_context(
            make_spec(), {"messages": conversation()}, bos_token="<s>", eos_token="</s>",
            add_generation_prompt=False,
        )
        assert context["bos_token"] == "<s>" and context["eos_token"] == "</s>"
        assert context["add_generation_prompt"] is False

    def test_extra_context_wins(self):
        context = prepare_context(
            make_spec(),
            {"messages": conversation()},
            extra_context={"enable_thinking": False, "tools": "x"},
        )
        assert context["enable_thinking"] is False and context["tools"] == "x"


class TestVariables:
    def test_expressions_see_tools_messages_and_builtin_names(self):
        spec = make_spec(
            {
                "variables": {
                    "functions": "tools | map(attribute='function') | list | tojson(indent=2)",
                    "count": "messages | length",
                    "builtins": "builtin_tool_names | join(',')",
                    "year": "strftime_now('%Y')",
                }
            },
            LLAMA_BUILTINS,
        )
        context = prepare_context(spec, {"messages": conversation(), "tools": [SPECIAL, BRAVE]})
        assert json.loads(context["functions"]) == [SPECIAL["function"], BRAVE["function"]]
        assert context["functions"].startswith('[\n  {\n    "name"')
        assert context["count"] == 4
        assert context["builtins"] == "brave_search"
        assert context["year"] == str(datetime.now().year)

    def test_expression_error_names_the_variable(self):
        spec = make_spec({"variables": {"bad": "tools.__class__"}})
        with pytest.raises(TemplateError, match=r"inputs\.variables\.bad"):
            prepare_context(spec, {"messages": conversation()})

    def test_render_variable_lists_present_special_tools(self):
        spec = make_spec(tool_calls=LLAMA_BUILTINS)
        context = prepare_context(spec, {"messages": conversation(), "tools": [SPECIAL, BRAVE]})
        assert context["builtin_tools"] == ["brave_search"]

    def test_render_variable_unset_without_special_tools(self):
        # Llama 3.1 writes "Tools: " for any defined builtin_tools, even an empty list.
        spec = make_spec(tool_calls=LLAMA_BUILTINS)
        context = prepare_context(spec, {"messages": conversation(), "tools": [SPECIAL]})
        assert "builtin_tools" not in context


class TestRawSpecialTools:
    RAW = {"special_tools": [{"names": ["python"], "body": "raw", "argument": "code"}]}

    def request(self, arguments: Any) -> dict:
        return {"messages": [USER, {"role": "assistant", "tool_calls": [call("python", arguments)]}]}

    def test_string_mode_passes_the_code_itself(self):
        context = prepare_context(make_spec(STR, self.RAW), self.request('{"code": "print(1)"}'))
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == "print(1)"

    def test_object_mode_keeps_the_mapping(self):
        context = prepare_context(make_spec(OBJ, self.RAW), self.request('{"code": "print(1)"}'))
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == {"code": "print(1)"}

    def test_other_tools_and_missing_code_stay_json(self):
        context = prepare_context(make_spec(STR, self.RAW), self.request('{"script": "x"}'))
        assert assistant_call(context)["tool_calls"][0]["function"]["arguments"] == '{"script": "x"}'
        spec = make_spec(STR, self.RAW)
        request = {"messages": [USER, {"role": "assistant", "tool_calls": [call()]}]}
        assert assistant_call(prepare_context(spec, request))["tool_calls"][0]["function"][
            "arguments"
        ] == '{"arg1": 1}'


class TestToolResultsAsJson:
    def test_result_is_wrapped_with_id_and_name(self):
        spec = make_spec({"tool_results_as_json": True, "tool_role": "user"})
        result = prepare_context(spec, {"messages": conversation()})["messages"][-1]
        assert result["role"] == "user"
        assert json.loads(result["content"]) == {
            "tool_response": {"id": "call_abc123", "name": "special_function", "content": RESULT_TEXT}
        }

    def test_non_ascii_is_kept(self):
        spec = make_spec({"tool_results_as_json": True})
        messages = conversation()
        messages[-1] = {**messages[-1], "content": "東京"}
        assert "東京" in prepare_context(spec, {"messages": messages})["messages"][-1]["content"]


class TestToolCallsInContent:
    def two_calls(self) -> dict:
        return {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [call(), call("other", '{"b": "é"}', id="call_2")],
                },
            ]
        }

    def test_envelope_one_call(self):
        spec = real_spec("generic")
        message = prepare_context(spec, {"messages": conversation()})["messages"][2]
        assert "tool_calls" not in message
        # the model does not write call ids in this format: the history shows none either
        assert json.loads(message["content"]) == {"tool_call": {"name": "special_function", "arguments": {"arg1": 1}}}

    def test_envelope_several_calls(self):
        message = prepare_context(real_spec("generic"), self.two_calls())["messages"][1]
        assert json.loads(message["content"]) == {
            "tool_calls": [
                {"name": "special_function", "arguments": {"arg1": 1}},
                {"name": "other", "arguments": {"b": "é"}},
            ]
        }
        assert "é" in message["content"]

    def test_envelope_plain_answer_and_content_with_a_call(self):
        request = {"messages": [USER, {"role": "assistant", "content": "Paris."}], "tools": [tool("f")]}
        message = prepare_context(real_spec("generic"), request)["messages"][-1]
        assert json.loads(message["content"]) == {"response": "Paris."}
        # without tools in play the chat is rendered as the model's own template renders it
        for plain in ({"messages": request["messages"]}, {**request, "tool_choice": "none"}):
            context = prepare_context(real_spec("generic"), plain)
            assert context["messages"] == request["messages"]
        request = {"messages": [USER, {"role": "assistant", "content": "Let me.", "tool_calls": [call()]}]}
        message = prepare_context(real_spec("generic"), request)["messages"][-1]
        assert json.loads(message["content"])["response"] == "Let me."

    def test_tagged_calls(self):
        spec = make_spec(
            {"tool_calls_in_content": True},
            {"call": {"begin": "<tool_call>\n", "end": "\n</tool_call>"}, "separator": "\n"},
        )
        message = prepare_context(spec, self.two_calls())["messages"][1]
        assert message["content"] == (
            '<tool_call>\n{"name": "special_function", "arguments": {"arg1": 1}}\n</tool_call>\n'
            '<tool_call>\n{"name": "other", "arguments": {"b": "é"}}\n</tool_call>'
        )

    def test_section_array_with_ids(self):
        spec = make_spec(
            {"tool_calls_in_content": True},
            {
                "call": {"begin": ""},
                "section": {"begin": "[TOOL_CALLS]"},
                "array": True,
                "json": {"id_key": "id"},
            },
        )
        request = {"messages": [USER, {"role": "assistant", "content": "Hi", "tool_calls": [call()]}]}
        message = prepare_context(spec, request)["messages"][1]
        assert message["content"] == (
            'Hi[TOOL_CALLS][{"name": "special_function", "arguments": {"arg1": 1}, "id": "call_abc123"}]'
        )

    def test_name_body_and_raw_special_tool(self):
        spec = make_spec(
            {"tool_calls_in_content": True},
            {
                "call": {"begin": "<function=", "end": "</function>"},
                "body": "name",
                "name": {"name_suffix": ">"},
                "special_tools": [{"names": ["python"], "begin": "<|python_tag|>", "body": "raw"}],
            },
        )
        request = {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [call(), call("python", '{"code": "print(1)"}', id="c2")],
                },
            ]
        }
        message = prepare_context(spec, request)["messages"][1]
        assert message["content"] == (
            '<function=special_function>{"arg1": 1}</function><|python_tag|>print(1)'
        )


class TestSystemAuto:
    KEEPS = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
    RAISES = (
        "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system') }}"
        "{% endif %}[{{ m.role }}]{{ m.content }}{% endfor %}"
    )
    DROPS = "{% for m in messages if m.role != 'system' %}[{{ m.role }}]{{ m.content }}{% endfor %}"

    def render(self, template: str) -> str:
        spec = make_spec({"system": "auto"})
        messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
        return render_prompt(spec, {"messages": messages}, template)

    def test_kept_when_the_template_shows_it(self):
        assert self.render(self.KEEPS) == "[system]S[user]U"

    def test_merged_when_the_template_raises(self):
        assert self.render(self.RAISES) == "[user]S\n\nU"

    def test_merged_when_the_template_drops_it(self):
        assert self.render(self.DROPS) == "[user]S\n\nU"

    def test_probe_is_cached_per_source(self):
        from chatformats.prompt import template_drops_system

        template_drops_system.cache_clear()
        self.render(self.RAISES)
        self.render(self.RAISES)
        info = template_drops_system.cache_info()
        assert info.misses == 1 and info.hits == 1


def test_reasoning_field_receives_reasoning_content():
    spec = make_spec({"reasoning_field": "tool_plan"})
    request = {
        "messages": [
            USER,
            {"role": "assistant", "reasoning_content": "plan", "tool_calls": [call()]},
        ]
    }
    assert prepare_context(spec, request)["messages"][1]["tool_plan"] == "plan"


class TestValidateRequest:
    def test_defaults_filled_and_request_untouched(self):
        request = {"messages": conversation(), "tools": [], "model": "m"}
        original = copy.deepcopy(request)
        checked = validate_request(request, real_spec("hermes"))
        assert request == original
        assert checked["tools"] is None
        assert checked["tool_choice"] == "auto" and checked["parallel_tool_calls"] is True
        assert checked["messages"] is request["messages"] and checked["model"] == "m"

    def test_result_validates_again(self):
        checked = validate_request({"messages": conversation(), "tools": [SPECIAL]})
        assert validate_request(checked) == checked

    @pytest.mark.parametrize(
        "request_, match",
        [
            ({"messages": [USER], "parallel_tool_calls": "yes"}, "parallel_tool_calls must be true or false"),
            ({"messages": [{"role": "function", "content": "x"}]}, "role 'function' is not one of"),
            ({"messages": [USER, {"role": "assistant", "tool_calls": [call(arguments="{")]}]}, "not valid JSON"),
            ({"messages": [USER], "tools": [SPECIAL], "tool_choice": "sometimes"}, "tool_choice must be"),
            ([], "must be a JSON object"),
        ],
    )
    def test_errors(self, request_: Any, match: str):
        with pytest.raises(RequestError, match=match):
            validate_request(request_)


def test_text_parts_are_joined():
    request = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ]
    }
    assert prepare_context(make_spec(), request)["messages"][0]["content"] == "a\nb"


# --------------------------------------------------------------------------------------------
# Request errors
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "request_, match",
    [
        ({}, "messages is required"),
        ({"messages": "hi"}, "messages must be a list"),
        ({"messages": []}, "must not be empty"),
        ({"messages": ["hi"]}, r"messages\[0\] must be an object"),
        ({"messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\]\.role 'robot'"),
        ({"messages": [{"role": "user"}]}, "needs a content string"),
        ({"messages": [{"role": "user", "content": 3}]}, "content must be a string"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "only text parts",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": {"id": "x"}}]},
            r"messages\[1\]\.tool_calls must be a list",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": ["x"]}]},
            r'tool_calls\[0\] must be \{"id"',
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [{"function": "f"}]}]},
            r"tool_calls\[0\]\.function must be",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [{**call(), "type": "code"}]}]},
            r"\.type must be 'function'",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [call(name="")]}]},
            r"function\.name must be a non-empty string",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [call(arguments="{a: 1}")]}]},
            r"messages\[1\]\.tool_calls\[0\]\.function\.arguments is not valid JSON",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [call(arguments="[1]")]}]},
            "must encode a JSON object",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [call(arguments=5)]}]},
            "must be a JSON string",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [call(id=5)]}]},
            r"\.id must be a string",
        ),
        ({"messages": [USER, {"role": "tool", "content": "r"}]}, "needs tool_call_id"),
        ({"messages": [USER, {"role": "tool", "tool_call_id": "a"}]}, "needs a content string"),
        ({"messages": [USER], "tools": {"type": "function"}}, "tools must be a list"),
        ({"messages": [USER], "tools": [{"name": "f"}]}, r"tools\[0\] must be"),
        ({"messages": [USER], "tools": [{"type": "function"}]}, r"tools\[0\]\.function must be"),
        ({"messages": [USER], "tools": [tool("")]}, r"tools\[0\]\.function\.name"),
        ({"messages": [USER], "tools": [SPECIAL, SPECIAL]}, "duplicate tool name"),
        ({"messages": [USER], "tools": [tool("f", parameters="x")]}, "parameters must be"),
        ({"messages": [USER], "tools": [tool("f", description=1)]}, "description must be"),
        ({"messages": [USER], "tools": [SPECIAL], "tool_choice": "always"}, "tool_choice must be"),
        (
            {"messages": [USER], "tools": [SPECIAL], "tool_choice": {"name": "x"}},
            "tool_choice must be",
        ),
        (
            {
                "messages": [USER],
                "tools": [SPECIAL],
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            "names tool 'nope', which is not in tools",
        ),
        ({"messages": [USER], "tool_choice": "required"}, "needs a non-empty tools list"),
    ],
)
def test_request_errors(request_: dict, match: str):
    with pytest.raises(RequestError, match=match):
        prepare_context(make_spec(), request_)


def test_request_error_is_a_value_error():
    assert issubclass(RequestError, ValueError)
    with pytest.raises(ValueError):
        prepare_context(make_spec(), "not a dict")  # type: ignore[arg-type]


def test_named_tool_choice_is_accepted():
    request = {
        "messages": [USER],
        "tools": [SPECIAL],
        "tool_choice": {"type": "function", "function": {"name": "special_function"}},
    }
    assert prepare_context(make_spec(), request)["tools"] == [SPECIAL]


# --------------------------------------------------------------------------------------------
# Template choice
# --------------------------------------------------------------------------------------------

OWN = "OWN {{ tools | length }}"
WITH_TOOLS = "MODEL {{ tools }}"
WITHOUT_TOOLS = "MODEL {{ messages | length }}"


class TestChooseTemplate:
    def test_always(self):
        spec = make_spec({"template": OWN, "use_template": "always"})
        assert choose_template(spec, WITH_TOOLS) == OWN
        assert choose_template(spec, None) == OWN

    def test_when_model_template_lacks_tools(self):
        spec = make_spec({"template": OWN})
        assert choose_template(spec, WITH_TOOLS) == WITH_TOOLS
        assert choose_template(spec, WITHOUT_TOOLS) == OWN
        assert choose_template(spec, None) == OWN

    def test_never(self):
        spec = make_spec({"template": OWN, "use_template": "never"})
        assert choose_template(spec, WITHOUT_TOOLS) == WITHOUT_TOOLS
        with pytest.raises(RequestError, match="no chat template"):
            choose_template(spec, None)

    def test_no_template_at_all(self):
        with pytest.raises(RequestError, match="no chat template"):
            choose_template(make_spec(), None)

    def test_always_without_own_template(self):
        with pytest.raises(RequestError, match="no inputs.template"):
            choose_template(make_spec({"use_template": "always"}), WITH_TOOLS)

    def test_render_prompt_uses_the_choice_and_names_errors(self):
        spec = make_spec({"template": OWN})
        request = {"messages": [USER], "tools": [SPECIAL]}
        assert render_prompt(spec, request, WITHOUT_TOOLS) == "OWN 1"
        assert render_prompt(spec, request, WITH_TOOLS).startswith("MODEL [")
        broken = make_spec({"template": "{{ nope.x }}", "use_template": "always"})
        with pytest.raises(TemplateError, match=r"^test:inputs\.template:1: UndefinedError"):
            render_prompt(broken, request, None)
