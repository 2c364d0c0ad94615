"""`formats serve`'s app, driven by the official openai client over real HTTP on loopback."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chatformats.cli.demo import DEMO_TOOLS, invalid_calls
from chatformats.testing.templates import template_for, templates_dir
from chatformats.hooks import get_registry
from chatformats.llama import ChatModel
from chatformats.testing.tiny_model import ensure_tiny_model

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

from server_helpers import start_app  # noqa: E402 (needs uvicorn)

USER = [{"role": "user", "content": "Weather in Oslo?"}]


@pytest.fixture(scope="module")
def base_url():
    fmt = get_registry().get("hermes")
    template, _ = template_for(fmt, templates_dir())
    model = ChatModel(str(ensure_tiny_model()), "hermes", template=template)
    server, thread, base = start_app(model)
    yield base + "/v1"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(base_url):
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)


def test_models(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_tool_call_without_streaming(client):
    for seed in range(3):
        result = client.chat.completions.create(
            model="tiny", messages=USER, tools=DEMO_TOOLS, tool_choice="required", max_tokens=320, seed=seed
        )
        choice = result.choices[0]
        assert choice.finish_reason == "tool_calls"
        message = choice.message.model_dump()
        assert message["tool_calls"] and not invalid_calls(message, DEMO_TOOLS)


def test_tool_call_streamed(client):
    stream = client.chat.completions.create(
        model="tiny",
        messages=USER,
        tools=DEMO_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=320,
        seed=4,
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for call in choice.delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            if call.function:
                entry["name"] += call.function.name or ""
                entry["arguments"] += call.function.arguments or ""
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather"]
    assert calls[0]["id"]
    json.loads(calls[0]["arguments"])


def test_concurrent_requests_are_served(client):
    def one(seed):
        result = client.chat.completions.create(
            model="tiny", messages=USER, tools=DEMO_TOOLS, tool_choice="required", max_tokens=320, seed=seed
        )
        return result.choices[0].message.model_dump()

    with ThreadPoolExecutor(4) as pool:
        messages = list(pool.map(one, range(4)))
    assert all(m["tool_calls"] and not invalid_calls(m, DEMO_TOOLS) for m in messages)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"messages": USER, "tool_choice": "sometimes", "tools": DEMO_TOOLS}, "tool_choice"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"messages": USER, "max_tokens": "many"}, "max_tokens"),
        ({"messages": USER, "tools": [{"type": "function", "function": {}}]}, "name"),
    ],
)
def test_bad_requests_get_400_in_openai_error_shape(base_url, body, fragment):
    response = httpx.post(f"{base_url}/chat/completions", json=body, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and fragment in error["message"]


def test_body_that_is_not_json_is_400(base_url):
    response = httpx.post(
        f"{base_url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_openai_client_raises_bad_request(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=USER, tools=DEMO_TOOLS, tool_choice="sometimes")


def test_response_format_json_schema_over_http(client):
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 10}}, "required": ["city"]}
    result = client.chat.completions.create(
        model="tiny",
        messages=USER,
        max_tokens=120,
        seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}},
    )
    import jsonschema

    jsonschema.validate(json.loads(result.choices[0].message.content), schema)
    assert not result.choices[0].message.tool_calls


def test_response_format_with_tools_is_a_400(client):
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.chat.completions.create(
            model="tiny", messages=USER, tools=DEMO_TOOLS, response_format={"type": "json_object"}, max_tokens=8
        )
