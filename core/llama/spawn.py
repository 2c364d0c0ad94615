"""A local llama-server process to decode for `formats serve --llama-server` (continuous batching
on one machine), started on a free port and stopped cleanly with the server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import httpx

from .engine import default_threads


class SpawnError(RuntimeError):
    """llama-server could not be found or did not start; the message says why."""


def find_llama_server() -> Optional[str]:
    """$CHATFORMATS_LLAMA_SERVER, else the one beside this Python (scripts/setup.sh puts it in
    .venv/bin), else llama-server on PATH."""
    explicit = os.environ.get("CHATFORMATS_LLAMA_SERVER")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "llama-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("llama-server")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LlamaServerProcess:
    """`with LlamaServerProcess(model) as proc: proc.url` -- stopped on exit (SIGTERM, then kill)."""

    def __init__(
        self,
        model: str,
        *,
        slots: int = 4,
        threads: Optional[int] = None,
        n_gpu_layers: Optional[int] = None,
        ctx_size: int = 4096,
        host: str = "127.0.0.1",
        port: Optional[int] = None,
        binary: Optional[str] = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 120.0,
    ):
        self.binary = binary or find_llama_server()
        if not self.binary:
            raise SpawnError(
                "llama-server not found: run scripts/setup.sh (it builds one into .venv/bin), put one "
                "on PATH, or set CHATFORMATS_LLAMA_SERVER"
            )
        if not Path(model).is_file():
            raise SpawnError(f"model file not found: {model}")
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        # llama-server shares its context between slots: give every slot ctx_size tokens
        self.args = [
            self.binary, "-m", str(model), "--host", host, "--port", str(self.port),
            "-np", str(slots), "-c", str(ctx_size * slots), "-t", str(threads or default_threads()),
            *(["-ngl", str(n_gpu_layers)] if n_gpu_layers is not None else []),
            *extra_args,
        ]
        self.startup_timeout = startup_timeout
        self.process: Optional[subprocess.Popen] = None
        self._log = tempfile.TemporaryFile()

    def start(self) -> "LlamaServerProcess":
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SpawnError(f"llama-server exited with status {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SpawnError(f"llama-server did not become healthy within {self.startup_timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, n: int = 600) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return " ".join(text[-n:].split()) or "(no output)"

    def stop(self, timeout: float = 10.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> "LlamaServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
