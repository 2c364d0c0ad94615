"""Untrusted templates run in sandbox worker processes, with a time and a memory budget.

A worker is a fresh interpreter (`sandbox_worker.py`, started with exec: the parent may hold
llama.cpp and threads, so it is never forked) that keeps compiled templates by source hash; a
render sends the context as plain JSON and gets the text back. The worker caps its own address
space (RLIMIT_AS) and interrupts Python code at the time limit; the parent kills it when it does
not answer shortly after, or dies, and starts a new one on the next call. Up to
`limits.workers` run at once (the server renders from several threads).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

from . import jinja_sandbox as jinja
from .jinja_sandbox import TemplateError, TemplateLimitError, TemplateRaised
from .limits import TemplateLimits, template_limits

__all__ = ["MAX_OUTPUT_BYTES", "compile", "evaluate", "key_of", "regex_search", "render", "shutdown", "variables"]

_WORKER_FILE = str(Path(__file__).with_name("sandbox_worker.py"))
_JINJA_FILE = str(Path(__file__).with_name("jinja_sandbox.py"))
_HEADER = struct.Struct(">I")
_START_TIMEOUT = 60.0  # a new interpreter on a slow, busy machine
_GRACE = 1.0  # past the time limit, before the parent kills (the worker's own timer answers first)
MAX_OUTPUT_BYTES = 64 << 20  # a rendered prompt larger than this is refused


class _Timeout(Exception):
    pass


class _Dead(Exception):
    pass


class _Gone(_Dead):
    """The worker was dead before it got the request (so the request is not to blame)."""


def key_of(kind: str, source: str, name: str) -> str:
    """The worker's cache key for a compiled template or expression."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest}:{name}"


class _Process:
    """One worker process and the keys it has compiled."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self.known: set[str] = set()
        self.buffer = bytearray()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", _WORKER_FILE, json.dumps(sys.path), _JINJA_FILE, str(memory_mb << 20)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to the parent only
        )
        self.poll = select.poll()  # not select(): the server's descriptors may pass 1024
        self.poll.register(self.proc.stdout.fileno(), select.POLLIN)
        try:
            ready = self.receive(time.monotonic() + _START_TIMEOUT)
        except (_Timeout, _Dead) as exc:
            self.kill()
            raise TemplateError(f"the template sandbox process did not start ({exc or 'no answer'})") from None
        if "ready" not in ready:
            self.kill()
            raise TemplateError("the template sandbox process did not start")

    def send(self, body: bytes) -> None:
        data = memoryview(_HEADER.pack(len(body)) + body)
        fd = self.proc.stdin.fileno()
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError as exc:  # BrokenPipeError: it had died
            raise _Gone(self.reason(exc)) from None

    def _fill(self, size: int, deadline: float) -> None:
        """Read until `size` bytes are buffered (one read usually brings a whole answer)."""
        fd = self.proc.stdout.fileno()
        while len(self.buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.poll.poll(remaining * 1000):
                raise _Timeout()
            chunk = os.read(fd, max(size - len(self.buffer), 1 << 16))
            if not chunk:
                raise _Dead(self.reason())
            self.buffer += chunk

    def receive(self, deadline: float) -> dict[str, Any]:
        self._fill(_HEADER.size, deadline)
        (size,) = _HEADER.unpack_from(self.buffer)
        if size > MAX_OUTPUT_BYTES:
            raise _Dead(f"an answer of {size >> 20} MB, over the {MAX_OUTPUT_BYTES >> 20} MB limit")
        end = _HEADER.size + size
        self._fill(end, deadline)
        body, self.buffer = bytes(self.buffer[_HEADER.size : end]), self.buffer[end:]
        return json.loads(body.decode("utf-8", "surrogatepass"))

    def reason(self, exc: Optional[BaseException] = None) -> str:
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return str(exc) if exc else "it stopped answering"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def idle_and_alive(self) -> bool:
        """An idle worker has nothing to say: output (or end of file) means it broke or died."""
        return self.proc.poll() is None and not self.poll.poll(0)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5.0)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class _Pool:
    """Up to `limits.workers` processes, started on demand; a caller waits for a free one."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.idle: list[_Process] = []
        self.count = 0

    def acquire(self, limits: TemplateLimits) -> _Process:
        with self.cond:
            while True:
                if self.idle:
                    worker = self.idle.pop()
                    if worker.memory_mb == limits.memory_mb and worker.idle_and_alive():
                        return worker
                    worker.kill()  # died while idle, or started under another memory limit
                    self.count -= 1
                    continue
                if self.count < limits.workers:
                    self.count += 1
                    break
                self.cond.wait()
        try:
            return _Process(limits.memory_mb)
        except BaseException:
            self.release(None, limits)
            raise

    def release(self, worker: Optional[_Process], limits: TemplateLimits) -> None:
        with self.cond:
            if worker is not None and self.count <= limits.workers:
                self.idle.append(worker)
            else:
                if worker is not None:
                    worker.kill()
                self.count -= 1
            self.cond.notify()

    def shutdown(self) -> None:
        with self.cond:
            idle, self.idle = self.idle, []
            self.count -= len(idle)
        for worker in idle:
            worker.kill()


_POOL = _Pool()
atexit.register(_POOL.shutdown)


def shutdown() -> None:
    """Stop the idle workers (the next call starts new ones)."""
    _POOL.shutdown()


def _encode(request: dict[str, Any], name: str) -> bytes:
    try:
        return json.dumps(request, ensure_ascii=False, default=_refuse).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"cannot pass this to the template sandbox: {exc}", name) from None
    except RecursionError:
        raise TemplateError("cannot pass this to the template sandbox: nested too deeply", name) from None


def _refuse(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(error: dict[str, Any], name: str, what: str, limits: TemplateLimits) -> TemplateError:
    kind = error["kind"]
    if kind == "time":
        return TemplateLimitError(f"{what} exceeded the {limits.time_s:g} s time limit", name)
    if kind == "memory":
        return TemplateLimitError(f"{what} exceeded the {limits.memory_mb} MB memory limit", name)
    cls = TemplateRaised if kind == "raised" else TemplateError
    return cls(error.get("message") or "failed", name, error.get("lineno"))


def _exchange(worker: _Process, request: dict[str, Any], source: Optional[str], deadline: float) -> dict[str, Any]:
    key = request.get("key")
    if source is not None and key not in worker.known:
        request = {**request, "source": source}
    worker.send(_encode(request, request["name"]))
    reply = worker.receive(deadline)
    if reply.get("error", {}).get("kind") == "missing" and source is not None:
        worker.send(_encode({**request, "source": source}, request["name"]))
        reply = worker.receive(deadline)
    if key is not None and "ok" in reply:
        worker.known.add(key)
    return reply


def _attempt(request: dict[str, Any], source: Optional[str], what: str, limits: TemplateLimits) -> Optional[dict[str, Any]]:
    """One exchange with a worker; None when that worker had died before it got the request."""
    name = request["name"]
    worker = _POOL.acquire(limits)
    keep: Optional[_Process] = None
    try:
        reply = _exchange(worker, request, source, time.monotonic() + limits.time_s + _GRACE)
        keep = worker
        return reply
    except _Gone:
        worker.kill()
        return None
    except _Timeout:
        worker.kill()
        raise TemplateLimitError(f"{what} exceeded the {limits.time_s:g} s time limit", name) from None
    except _Dead as exc:
        worker.kill()
        raise TemplateLimitError(
            f"{what} took the template sandbox down ({exc}; memory limit {limits.memory_mb} MB)", name
        ) from None
    finally:
        _POOL.release(keep, limits)


def _call(request: dict[str, Any], source: Optional[str], what: str) -> Any:
    limits = template_limits()
    name = request["name"]
    if not limits.process:
        return _in_process(request, source)
    request["time"] = limits.time_s
    request["epoch"] = os.environ.get("SOURCE_DATE_EPOCH")
    reply = _attempt(request, source, what, limits)
    if reply is None:  # not this request's doing: once more, on a new worker
        reply = _attempt(request, source, what, limits)
    if reply is None:
        raise TemplateError("the template sandbox process dies as soon as it starts", name)
    if "error" in reply:
        raise _error(reply["error"], name, what, limits)
    return reply["ok"]


# -- in process (limits.process False): the operation bounds only --------------------------------

_compiled: "OrderedDict[str, Any]" = OrderedDict()
_compiled_lock = threading.Lock()


def _in_process(request: dict[str, Any], source: Optional[str]) -> Any:
    op, name = request["op"], request["name"]
    if op == "variables":
        return jinja.undeclared(source, name)
    if op == "regex":
        import re

        match = re.search(request["pattern"].encode("utf-8"), request["text"].encode("utf-8"))
        return None if match is None else [match.start(), match.end()]
    key = request["key"]
    with _compiled_lock:
        compiled = _compiled.get(key)
    if compiled is None:
        expression = op in ("expression", "compile_expression")
        compiled = jinja.compile_expression_source(source, name) if expression else jinja.compile_source(source, name)
        with _compiled_lock:
            _compiled[key] = compiled
            if len(_compiled) > 256:
                _compiled.popitem(last=False)
    if op == "render":
        return jinja.render_compiled(compiled, name, request["context"])
    if op == "expression":
        return jinja.evaluate_compiled(compiled, name, request["context"])
    return True


# -- the operations -------------------------------------------------------------------------------


def compile(source: str, name: str, key: str) -> None:
    """Compile a template (syntax errors and compile-time folding, bounded)."""
    _call({"op": "compile", "name": name, "key": key}, source, "compiling")


def render(source: str, name: str, key: str, context: dict[str, Any]) -> str:
    return _call({"op": "render", "name": name, "key": key, "context": context}, source, "rendering")


def compile_expression(source: str, name: str, key: str) -> None:
    _call({"op": "compile_expression", "name": name, "key": key}, source, "compiling")


def evaluate(source: str, name: str, key: str, context: dict[str, Any]) -> Any:
    return _call({"op": "expression", "name": name, "key": key, "context": context}, source, "evaluating")


def variables(source: str, name: str = "<template>") -> list[str]:
    """The variables a template reads (parsing is bounded too)."""
    return _call({"op": "variables", "name": name}, source, "parsing")


def regex_search(pattern: str, text: str, name: str) -> Optional[tuple[int, int]]:
    """`re.search(pattern, text)` on UTF-8 bytes, under the time limit (catastrophic backtracking
    raises TemplateLimitError naming `name`)."""
    found = _call({"op": "regex", "name": name, "pattern": pattern, "text": text}, None, "matching")
    return None if found is None else (found[0], found[1])
