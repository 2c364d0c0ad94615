"""`formats serve` as an attacker and a careless client use it: a real server process on the tiny
model, real sockets. Nothing here may wedge the server, leak a slot, or produce a 500."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chatformats.cli.demo import DEMO_TOOLS
from chatformats.hooks import get_registry
from chatformats.llama.spawn import free_port
from chatformats.testing.templates import template_for, templates_dir
from chatformats.testing.tiny_model import ensure_tiny_model

USER = [{"role": "user", "content": "Weather in Oslo?"}]


def start_server(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    fmt = get_registry().get("hermes")
    template, _ = template_for(fmt, templates_dir())
    template_file = tmp_path / "template.jinja"
    template_file.write_text(template or "", encoding="utf-8")
    port = free_port()
    env = dict(os.environ, CHATFORMATS_THREADS="1")
    args = [sys.executable, "-m", "chatformats", "serve", "--model", str(ensure_tiny_model()), "--format", "hermes",
            "--port", str(port), "--ctx-size", "2048", *extra]
    if template:
        args += ["--template", str(template_file)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode(errors="replace"))
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, base = start_server(tmp_path_factory.mktemp("serve"), "--max-queue", "16", "--max-body-mb", "1")
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def chat(base: str, body: dict, timeout: float = 60) -> httpx.Response:
    return httpx.post(base + "/v1/chat/completions", json=body, timeout=timeout)


def settle(base: str, timeout: float = 30) -> dict:
    """/health once every request has left the server."""
    deadline = time.monotonic() + timeout
    while True:
        health = httpx.get(base + "/health", timeout=5).json()
        if health["admitted"] == 0 and all(b["in_flight"] == 0 for b in health["backends"]):
            return health
        assert time.monotonic() < deadline, f"requests still held: {health}"
        time.sleep(0.1)


def test_abandoned_streams_free_their_slot(server):
    before = httpx.get(server + "/health").json()["backends"][0]["cancelled"]
    for _ in range(3):
        with httpx.stream(
            "POST", server + "/v1/chat/completions",
            json={"messages": USER, "stream": True, "max_tokens": 2000, "seed": 1}, timeout=30,
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data:"):
                    break  # walk away mid-stream
    health = settle(server)
    assert health["backends"][0]["cancelled"] == before + 3  # stopped, not run to the end
    reply = chat(server, {"messages": USER, "max_tokens": 8, "seed": 2}, timeout=30)
    assert reply.status_code == 200, reply.text


def test_a_flood_of_streams_gets_answers_or_503_and_the_server_stays_responsive(server):
    async def flood() -> list[int]:
        async with httpx.AsyncClient(timeout=120) as client:
            async def one(i: int) -> int:
                body = {"messages": USER, "tools": DEMO_TOOLS, "stream": True, "max_tokens": 12, "seed": i}
                async with client.stream("POST", server + "/v1/chat/completions", json=body) as response:
                    async for _ in response.aiter_lines():
                        pass
                    return response.status_code

            async def probe() -> float:
                await asyncio.sleep(0.3)
                started = time.monotonic()
                reply = await client.get(server + "/v1/models")
                assert reply.status_code == 200
                return time.monotonic() - started

            results = await asyncio.gather(*(one(i) for i in range(120)), probe())
            assert results[-1] < 5, f"/v1/models took {results[-1]:.1f} s during the flood"
            return results[:-1]

    statuses = asyncio.run(flood())
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 17  # 1 slot + 16 queued at least
    settle(server)
    assert chat(server, {"messages": USER, "max_tokens": 4}).status_code == 200


@pytest.mark.parametrize(
    "raw, status, phrase",
    [
        (b"{", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', 400, "NaN"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": 1e999}', 400, "temperature"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 2.0}', 400, "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 3}', 400, "n: 1"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400, "stream"),
        (b'{"messages": "hi"}', 400, "messages"),
        (b'{"messages": []}', 400, "messages"),
        (b'{"messages": [{"role": "wizard", "content": "x"}]}', 400, "role"),
        (b'{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}', 400, "tools[0]"),
        (b'{"messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}', 400, "tool_choice"),
        (b'[' * 10000 + b']' * 10000, 400, "nests"),
        (b"\xff\xfe", 400, "UTF-8"),
    ],
)
def test_client_mistakes_are_4xx_with_a_message(server, raw, status, phrase):
    reply = httpx.post(server + "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}, timeout=30)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert phrase in error["message"] and error["type"] == "invalid_request_error"


def test_null_optional_fields_are_accepted(server):
    body = {"messages": USER, "max_tokens": 4, "n": None, "stream": None, "stop": None, "temperature": None,
            "tools": None, "tool_choice": None, "parallel_tool_calls": None, "seed": None, "top_p": None}
    reply = chat(server, body)
    assert reply.status_code == 200, reply.text


def test_prompt_longer_than_the_context_is_a_400_streamed_or_not(server):
    long = [{"role": "user", "content": "word " * 3000}]
    for stream in (False, True):
        reply = chat(server, {"messages": long, "max_tokens": 4, "stream": stream})
        assert reply.status_code == 400, reply.text
        assert "context" in reply.json()["error"]["message"]


def test_big_bodies_are_refused_before_they_are_parsed(server):
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (2 << 20)}]}).encode()
    started = time.monotonic()
    reply = httpx.post(server + "/v1/chat/completions", content=big, headers={"content-type": "application/json"}, timeout=60)
    assert reply.status_code == 413
    assert time.monotonic() - started < 30


def test_sigterm_ends_the_server_with_a_generation_in_flight(tmp_path):
    proc, base = start_server(tmp_path)
    with httpx.stream("POST", base + "/v1/chat/completions",
                      json={"messages": USER, "stream": True, "max_tokens": 100000, "seed": 3}, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                break
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the server did not stop within 30 s of SIGTERM")
