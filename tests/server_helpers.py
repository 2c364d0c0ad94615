"""What the server tests share (tests/llama): `formats serve`'s app run in a thread of the test."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from chatformats.llama.server import create_app
from chatformats.llama.spawn import free_port


def start_app(model: Any, model_id: str = "tiny") -> tuple[uvicorn.Server, threading.Thread, str]:
    """The app for `model` listening on a free local port: (server, thread, base URL). Stop it with
    `server.should_exit = True` and `thread.join()`."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(model, model_id), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"
