"""An OpenAI-compatible HTTP server (Starlette + uvicorn) around one ChatModel."""

from __future__ import annotations

import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from ..prompt import RequestError
from .model import ChatModel

SAMPLING_FIELDS = {
    "max_tokens": int,
    "max_completion_tokens": int,
    "temperature": (int, float),
    "top_p": (int, float),
    "seed": int,
}


def error_response(message: str, status: int = 400, param: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": None}}, status_code=status
    )


def _sampling_options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, kind in SAMPLING_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kind):
            raise RequestError(f"`{name}` must be a number, got {json.dumps(value)}")
        options[name] = value
    if "max_completion_tokens" in options:
        options["max_tokens"] = options.pop("max_completion_tokens")
    if "max_tokens" in options and options["max_tokens"] < 1:
        raise RequestError("`max_tokens` must be at least 1")
    if body.get("n", 1) != 1:
        raise RequestError("only `n: 1` is supported")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise RequestError("`stop` must be a string or a list of strings")
    options["stop"] = stop
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("`stream` must be true or false")
    options["stream"] = stream
    return options


def create_app(model: ChatModel, model_id: str | None = None) -> Starlette:
    """The ASGI app. llama.cpp's context is not thread-safe, so requests take turns on one lock."""
    lock = threading.Lock()
    model_id = model_id or model.model_name

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": model_id, "object": "model", "owned_by": "chatformats", "format": model.format.name}],
            }
        )

    async def chat_completions(request: Request):
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return error_response("the request body is not valid JSON")
        if not isinstance(body, dict):
            return error_response("the request body must be a JSON object")
        try:
            options = _sampling_options(body)
            stream = options.pop("stream")
            stop = options.pop("stop")
            # Validate and render before taking the lock: a bad request must not wait behind a generation.
            prepared = model.prepare(
                body.get("messages"),
                body.get("tools"),
                body.get("tool_choice", "auto"),
                body.get("parallel_tool_calls", True),
                stop,
            )
        except RequestError as exc:
            return error_response(str(exc))
        except Exception as exc:  # e.g. a template that raises on this conversation
            return error_response(f"cannot render this request: {exc}")

        if not stream:
            from starlette.concurrency import run_in_threadpool

            def run():
                with lock:
                    return model.run(prepared, **options)

            result = await run_in_threadpool(run)
            result["model"] = model_id
            return JSONResponse(result)

        def events():
            with lock:
                for chunk in model.run(prepared, stream=True, **options):
                    chunk["model"] = model_id
                    yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        ]
    )


def serve(model: ChatModel, host: str = "127.0.0.1", port: int = 8080) -> None:
    import uvicorn

    uvicorn.run(create_app(model), host=host, port=port, log_level="info")
