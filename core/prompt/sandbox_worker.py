"""The template sandbox worker: a fresh interpreter that compiles and renders untrusted templates.

Started by `sandbox.py` as `python -I sandbox_worker.py SYS_PATH JINJA_SANDBOX_FILE MEMORY_BYTES`
(a new interpreter, never a fork of a process that may hold llama.cpp and threads). It loads only
`jinja_sandbox.py`, caps its own address space, then answers length-prefixed JSON frames on
stdin/stdout until stdin closes. A request runs under a timer that interrupts Python code; the
parent kills the worker when C code outlasts it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import struct
import sys
from collections import OrderedDict
from typing import Any, Optional

_HEADER = struct.Struct(">I")
_CACHE_SIZE = 256


class _TimeUp(BaseException):
    """Raised by the timer; a BaseException so no `except Exception` in template code keeps it."""


def _on_alarm(signum, frame):
    raise _TimeUp()


def _read(stream) -> Optional[dict[str, Any]]:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    return json.loads(body.decode("utf-8", "surrogatepass"))


def _write(stream, message: dict[str, Any], jinja) -> None:
    body = json.dumps(message, ensure_ascii=False, default=jinja._json_default).encode("utf-8", "surrogatepass")
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _cpu_deadline(seconds: float) -> None:
    """SIGXCPU ends this process a little after the time limit even inside a long C call (the
    timer only interrupts Python code), so a worker whose parent is gone cannot spin forever."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 3
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _limit_memory(memory: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


class Worker:
    def __init__(self, jinja) -> None:
        self.jinja = jinja
        self.cache: "OrderedDict[str, Any]" = OrderedDict()

    def compiled(self, request: dict[str, Any]) -> Any:
        key = request["key"]
        found = self.cache.get(key)
        if found is not None:
            self.cache.move_to_end(key)
            return found
        source = request.get("source")
        if source is None:
            return None
        jinja, name = self.jinja, request["name"]
        if request["op"] in ("expression", "compile_expression"):
            found = jinja.compile_expression_source(source, name)
        else:
            found = jinja.compile_source(source, name)
        self.cache[key] = found
        if len(self.cache) > _CACHE_SIZE:
            self.cache.popitem(last=False)
        return found

    def run(self, request: dict[str, Any]) -> Any:
        op, name, jinja = request["op"], request["name"], self.jinja
        if "epoch" in request:  # strftime_now reads the parent's SOURCE_DATE_EPOCH
            if request["epoch"] is None:
                os.environ.pop("SOURCE_DATE_EPOCH", None)
            else:
                os.environ["SOURCE_DATE_EPOCH"] = request["epoch"]
        if op == "variables":
            return jinja.undeclared(request["source"], name)
        if op == "regex":
            import re

            match = re.search(request["pattern"].encode("utf-8"), request["text"].encode("utf-8"))
            return None if match is None else [match.start(), match.end()]
        compiled = self.compiled(request)
        if compiled is None:
            return _MISSING
        if op == "render":
            return jinja.render_compiled(compiled, name, request["context"])
        if op == "expression":
            return jinja.evaluate_compiled(compiled, name, request["context"])
        return True  # compile, compile_expression

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        jinja = self.jinja
        seconds = max(float(request.get("time", 0)), 0.001)
        _cpu_deadline(seconds)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            result = self.run(request)
            signal.setitimer(signal.ITIMER_REAL, 0)
            if result is _MISSING:
                return {"error": {"kind": "missing"}}
            return {"ok": result}
        except _TimeUp:
            return {"error": {"kind": "time"}}
        except MemoryError:
            return {"error": {"kind": "memory"}}
        except jinja.TemplateError as exc:
            kind = "raised" if isinstance(exc, jinja.TemplateRaised) else "template"
            return {"error": {"kind": kind, "message": exc.message, "lineno": exc.lineno}}
        except Exception as exc:  # noqa: BLE001 - a bug here must not end the worker
            error = jinja.as_template_error(exc, request.get("name", "<template>"))
            return {"error": {"kind": "template", "message": error.message, "lineno": error.lineno}}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


_MISSING = object()


def main(argv: list[str]) -> int:
    sys.path[:] = json.loads(argv[1])
    spec = importlib.util.spec_from_file_location("chatformats_jinja_sandbox", argv[2])
    jinja = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(jinja)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _limit_memory(int(argv[3]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    worker = Worker(jinja)
    _write(stdout, {"ready": os.getpid()}, jinja)
    while True:
        try:
            request = _read(stdin)
        except MemoryError:  # a request too large for the budget: the parent sees the exit
            return 3
        if request is None:
            return 0
        reply = worker.answer(request)
        try:
            _write(stdout, reply, jinja)
        except MemoryError:
            _write(stdout, {"error": {"kind": "memory"}}, jinja)
        except (TypeError, ValueError) as exc:  # a value JSON cannot carry
            _write(stdout, {"error": {"kind": "template", "message": str(exc), "lineno": None}}, jinja)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
