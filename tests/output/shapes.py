"""Specs built in Python, one per wire shape of the spec vocabulary (modelled on each family; the
built-in YAML specs are tested in tests/formats)."""

from __future__ import annotations

from chatformats.spec import Spec


def make_spec(name: str, tool_calls: dict, **extra) -> Spec:
    return Spec.model_validate({"spec_version": 1, "name": name, "tool_calls": tool_calls, **extra})


THINK = {"begin": "<think>", "end": "</think>"}

HERMES = make_spec(
    "hermes",
    {"call": {"begin": "<tool_call>\n", "end": "\n</tool_call>"}, "separator": "\n", "flexible_whitespace": 4},
    reasoning=THINK,
)
LLAMA3 = make_spec(
    "llama3",
    {
        "anchored": True,
        "json": {
            "name_key": "name",
            "arguments_key": "parameters",
            "optional_fields": {"type": "function"},
        },
        "special_tools": [
            {
                "names": ["wolfram_alpha", "brave_search", "python", "code_interpreter"],
                "begin": "<|python_tag|>",
                "body": "python_call",
            }
        ],
    },
)
FUNCTIONARY_31 = make_spec(
    "functionary-v3.1",
    {
        "call": {"begin": "<function=", "end": "</function>"},
        "body": "name",
        "name": {"name_suffix": ">"},
        "special_tools": [{"names": ["python"], "begin": "<|python_tag|>", "body": "raw"}],
    },
)
FUNCTIONARY_32 = make_spec(
    "functionary-v3.2",
    {
        "implicit_prefix": ">>>",
        "call": {"begin": ">>>"},
        "body": "name",
        "name": {"name_suffix": "\n"},
        "content": {"begin": ">>>all\n"},
        "flexible_whitespace": 4,
        "special_tools": [{"names": ["python"], "body": "raw"}],
    },
)
MISTRAL = make_spec(
    "mistral",
    {"section": {"begin": "[TOOL_CALLS]"}, "array": True, "json": {"id_key": "id"}, "ids": {"style": "alnum9"}},
)
FIREFUNCTION = make_spec("firefunction", {"section": {"begin": " functools"}, "array": True, "flexible_whitespace": 4})
DEEPSEEK_R1 = make_spec(
    "deepseek-r1",
    {
        "section": {"begin": "<｜tool▁calls▁begin｜>", "end": "<｜tool▁calls▁end｜>"},
        "section_end_optional": True,
        "call": {"begin": "<｜tool▁call▁begin｜>function<｜tool▁sep｜>", "end": "\n```<｜tool▁call▁end｜>"},
        "body": "name",
        "name": {"name_suffix": "\n```json\n"},
        "separator": "\n",
        "flexible_whitespace": 4,
    },
    reasoning=THINK,
)
GENERIC = make_spec("generic", {"envelope": {}, "json": {"id_key": "id"}})

ALL_SPECS = [HERMES, LLAMA3, FUNCTIONARY_31, FUNCTIONARY_32, MISTRAL, FIREFUNCTION, DEEPSEEK_R1, GENERIC]
