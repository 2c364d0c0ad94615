"""An OpenAI-compatible HTTP server (Starlette + uvicorn) around a ChatModel.

The model's backend decodes: llama.cpp in process (one generation at a time), one llama-server,
or a pool of them (`PoolBackend`). Requests are served concurrently with async I/O:
- the body is read with a size limit, parsed and rendered off the event loop (worker threads);
- at most `slots + max_queue` requests are in the server at once; past that a 503 with
  Retry-After comes back at once, so a flood cannot pile up work or memory;
- a client that goes away (a dropped stream, a closed connection while waiting) ends its
  generation at the next token and frees its slot;
- client mistakes are 4xx in OpenAI's error shape; a backend that fails before the first token
  is retried on another (502/503 when none is left); one that fails mid-stream ends the stream
  with an error chunk and [DONE].
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..prompt import RequestError
from ..prompt.template import TemplateError
from .model import ChatModel
from .openai_request import chat_request, parse_body
from .pool import Overloaded, PoolBackend
from .remote import BackendError

log = logging.getLogger(__name__)


@dataclass
class Limits:
    """What one server takes on at once (`formats serve --help` names the flags)."""

    max_queue: int = 128  # requests waiting for a slot beyond those generating
    max_body_bytes: int = 8 << 20  # 8 MiB
    max_json_depth: int = 64
    prepare_threads: int = 4  # requests rendered at once (off the event loop)


def error_response(message: str, status: int = 400, param: Optional[str] = None, kind: Optional[str] = None, headers=None) -> JSONResponse:
    kind = kind or ("invalid_request_error" if status < 500 else "server_error")
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": None}}, status_code=status, headers=headers
    )


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _disconnected(request: Request) -> None:
    """Returns when the client goes away (the body has been read: the next message is that)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _race_disconnect(request: Request, awaitable: Any) -> Optional[asyncio.Future]:
    """Run `awaitable` unless the client leaves first: the finished task, or None when it left
    (the task is then cancelled and waited for)."""
    work = asyncio.ensure_future(awaitable)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if work in done:
        return work
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    return None


def _backend_error(exc: BaseException) -> JSONResponse:
    if isinstance(exc, Overloaded):
        return error_response(str(exc), 503, kind="server_overloaded", headers={"Retry-After": "1"})
    if isinstance(exc, BackendError):
        if exc.status is not None and 400 <= exc.status < 500:
            return error_response(str(exc), 400)
        return error_response(str(exc), 502)
    return error_response(str(exc))  # ValueError (GrammarError is one) from the options


class _Job:
    """One request's generation, so whatever happens it is closed and its place given back."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self.events = events

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):  # runs even while the request is being cancelled
            await self.events.aclose()


class Server:
    """The app's state: the model, its backend pool, the limits, the count of admitted requests."""

    def __init__(self, model: ChatModel, model_id: Optional[str] = None, limits: Optional[Limits] = None):
        self.model = model
        self.model_id = model_id or model.model_name
        self.limits = limits or Limits()
        backend = model.backend
        if not isinstance(backend, PoolBackend):  # queueing for a slot is the pool's job
            backend = PoolBackend([backend], max_queue=self.limits.max_queue)
        self.pool = backend
        self.capacity = self.pool.slots + self.limits.max_queue
        self.admitted = 0
        self._prepare_limiter: Optional[anyio.CapacityLimiter] = None
        self._health_task: Optional[asyncio.Task] = None

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        self._prepare_limiter = anyio.CapacityLimiter(self.limits.prepare_threads)
        self._health_task = asyncio.create_task(self.pool.health_loop())
        await anyio.to_thread.run_sync(self._warm_up)

    def _warm_up(self) -> None:
        """The first request's one-time costs, paid before serving: a template sandbox worker, the
        grammar engine's tokenizer for the model's vocabulary."""
        try:
            self.model.prepare([{"role": "user", "content": "hello"}])
        except Exception as exc:  # a template that rejects this conversation still serves others
            log.info("warm-up request failed (%s); serving anyway", exc)
        engine = self.model.engine
        if engine is not None:
            engine.warm_up()

    async def shutdown(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()

    # -- routes -----------------------------------------------------------------------------

    async def list_models(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": self.model_id, "object": "model", "owned_by": "chatformats", "format": self.model.format.name}],
            }
        )

    async def health(self, request: Request) -> JSONResponse:
        backends = self.pool.status()
        ok = any(b["healthy"] for b in backends)
        body = {"status": "ok" if ok else "unavailable", "admitted": self.admitted, "capacity": self.capacity, "backends": backends}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def chat_endpoint(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI endpoint: admission, the answer, and the cleanup after it was sent (or not)."""
        request = Request(scope, receive)
        if self.admitted >= self.capacity:
            response: Response = error_response(
                f"the server is at capacity ({self.capacity} requests); retry shortly",
                503,
                kind="server_overloaded",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.admitted += 1
        job: Optional[_Job] = None
        try:
            response, job = await self._chat(request)
            await response(scope, receive, send)
        finally:
            if job is not None:
                await job.close()
            self.admitted -= 1

    async def _chat(self, request: Request) -> tuple[Response, Optional[_Job]]:
        try:
            raw = await _read_body(request, self.limits.max_body_bytes)
        except _TooLarge:
            return error_response(f"the request body is larger than {self.limits.max_body_bytes} bytes", 413), None
        except ClientDisconnect:
            return Response(status_code=499), None
        try:
            body = await anyio.to_thread.run_sync(parse_body, raw, self.limits.max_json_depth, limiter=self._prepare_limiter)
            chat = chat_request(body)
            prepared = await anyio.to_thread.run_sync(self._prepare, chat, limiter=self._prepare_limiter)
            options = self.model.options(prepared, chat.sampling)
        except (ValueError, RequestError) as exc:  # includes GrammarError and bad tool_choice
            return error_response(str(exc)), None
        except TemplateError as exc:
            return error_response(f"cannot render this request: {exc}"), None
        except BackendError as exc:
            return error_response(f"no backend could prepare this request: {exc}", 503, headers={"Retry-After": "1"}), None
        job = _Job(self.pool.agenerate(prepared.prompt_tokens, **options))
        # Wait for the first event before answering: a request no backend can serve gets an
        # HTTP error rather than a broken stream; a client that leaves meanwhile frees its place.
        done = await _race_disconnect(request, job.events.__anext__())
        if done is None:
            return Response(status_code=499), job
        try:
            first = done.result()
        except StopAsyncIteration:
            return error_response("the backend produced nothing", 502), job
        except (BackendError, ValueError) as exc:
            return _backend_error(exc), job
        if chat.stream:
            chunks = self.model.chunk_stream(prepared, chat.include_usage)
            chunks.base["model"] = self.model_id
            return StreamingResponse(self._stream(chunks, first, job), media_type="text/event-stream"), job
        return await self._complete(request, prepared, first, job), job

    def _prepare(self, chat: Any) -> Any:
        return self.model.prepare(
            chat.messages, chat.tools, chat.tool_choice, chat.parallel_tool_calls, chat.stop, chat.response_format
        )

    async def _complete(self, request: Request, prepared: Any, first: Any, job: _Job) -> Response:
        from .chunks import Usage, completion

        async def collect() -> tuple[Usage, str]:
            usage, pieces = Usage(), []
            usage.add(first)
            pieces.append(first.text)
            async for event in job.events:
                usage.add(event)
                pieces.append(event.text)
            return usage, "".join(pieces)

        done = await _race_disconnect(request, collect())
        if done is None:
            return Response(status_code=499)
        try:
            usage, text = done.result()
        except BackendError as exc:
            return error_response(f"the backend failed during generation: {exc}", 502)
        message = await anyio.to_thread.run_sync(self.model.parse, prepared, text, limiter=self._prepare_limiter)
        return JSONResponse(completion(message, usage, self.model_id, self.model.info(prepared, text)))

    async def _stream(self, chunks: Any, first: Any, job: _Job) -> AsyncIterator[str]:
        try:
            for chunk in chunks.start():
                yield _sse(chunk)
            for chunk in chunks.feed(first):
                yield _sse(chunk)
            async for event in job.events:
                for chunk in chunks.feed(event):
                    yield _sse(chunk)
            for chunk in chunks.finish():
                yield _sse(chunk)
        except BackendError as exc:
            message = f"the backend failed during generation: {exc}"
            yield _sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
        yield "data: [DONE]\n\n"


class _AsgiEndpoint:
    """Makes Starlette treat a method as a raw ASGI app (not a request -> response function)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def create_app(model: ChatModel, model_id: Optional[str] = None, limits: Optional[Limits] = None) -> Starlette:
    """The ASGI app for `model` (see the module docstring)."""
    server = Server(model, model_id, limits)

    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.startup()
        try:
            yield
        finally:
            await server.shutdown()

    from contextlib import asynccontextmanager

    app = Starlette(
        routes=[
            Route("/v1/models", server.list_models, methods=["GET"]),
            Route("/v1/chat/completions", _AsgiEndpoint(server.chat_endpoint), methods=["POST"]),
            Route("/health", server.health, methods=["GET"]),
        ],
        lifespan=asynccontextmanager(lifespan),
    )
    app.state.server = server
    return app


def serve(model: ChatModel, host: str = "127.0.0.1", port: int = 8080, limits: Optional[Limits] = None, model_id: Optional[str] = None) -> None:
    import uvicorn

    # a SIGTERM ends in-flight generations after a few seconds rather than waiting for them
    uvicorn.run(create_app(model, model_id, limits), host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
