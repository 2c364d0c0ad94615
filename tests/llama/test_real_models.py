"""Real models, real vocabularies: SmolLM2-135M-Instruct (49k tokens) and Gemma-3-270M (262k),
installed from PyPI by the `models` extra (no model hub). Skipped with a reason when absent."""

from __future__ import annotations

import json

import pytest

from chatformats.cli.demo import WEATHER_QUESTION, WEATHER_TOOL, invalid_calls
from chatformats.llama import ChatModel
from chatformats.llama.models import MODELS
from parse_helpers import complete_arguments

USER = [{"role": "user", "content": WEATHER_QUESTION}]


def installed(name: str) -> str:
    model = MODELS[name]
    if not model.installed():
        pytest.skip(f"{model.package} is not installed (pip install 'chatformats[models]')")
    return str(model.path())


@pytest.fixture(scope="module")
def smollm2() -> ChatModel:
    return ChatModel(installed("smollm2-135m"))


@pytest.fixture(scope="module")
def gemma(templates_dir) -> ChatModel:
    path = installed("gemma3-270m")
    template = (templates_dir / "google-gemma-2-2b-it.jinja").read_text(encoding="utf-8")
    return ChatModel(path, template=template)


def calls(result: dict) -> list[tuple[str, dict]]:
    message = result["choices"][0]["message"]
    assert not invalid_calls(message, [WEATHER_TOOL]), result["chatformats"]["raw_output"]
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message.get("tool_calls") or []]


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_smollm2_calls_get_weather_for_paris(smollm2, choice):
    assert smollm2.format.name == "generic"
    for seed in range(4):
        result = smollm2.chat(USER, [WEATHER_TOOL], choice, parallel_tool_calls=False, max_tokens=128, seed=seed)
        made = calls(result)
        assert len(made) == 1 and made[0][0] == "get_weather", result["chatformats"]["raw_output"]
        assert "paris" in made[0][1]["city"].lower()
        assert result["choices"][0]["finish_reason"] == "tool_calls"


def test_gemma_makes_schema_valid_calls(gemma):
    assert gemma.engine.n_vocab == 262_144
    for seed in range(3):
        result = gemma.chat(USER, [WEATHER_TOOL], "required", parallel_tool_calls=False, max_tokens=128, seed=seed)
        made = calls(result)
        assert made and all(name == "get_weather" for name, _ in made), result["chatformats"]["raw_output"]


def test_streaming_equals_non_streaming_on_a_real_model(smollm2):
    for seed in range(2):
        whole = smollm2.chat(USER, [WEATHER_TOOL], "auto", max_tokens=96, seed=seed)
        streamed = list(smollm2.chat(USER, [WEATHER_TOOL], "auto", max_tokens=96, seed=seed, stream=True))
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in streamed)
        arguments: dict[int, str] = {}
        names: dict[int, str] = {}
        for chunk in streamed:
            for call in chunk["choices"][0]["delta"].get("tool_calls") or []:
                names[call["index"]] = call.get("function", {}).get("name") or names.get(call["index"])
                arguments[call["index"]] = arguments.get(call["index"], "") + (call.get("function", {}).get("arguments") or "")
        message = whole["choices"][0]["message"]
        assert content == (message.get("content") or "")
        finish = whole["choices"][0]["finish_reason"]
        assert [(names[i], arguments[i]) for i in sorted(names) if complete_arguments(arguments[i], finish)] == [
            (c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []
        ]
        assert streamed[-1]["choices"][0]["finish_reason"] == finish
