"""`formats` commands that run a model: models, tiny-model, demo, chat, serve."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..prompt import RequestError, TemplateError, validate_tools
from .common import Commands, fail, get_format, print_json, read_json, read_text, registry_for

COMMANDS = Commands()


def _model_options(p: argparse.ArgumentParser) -> None:
    """What loading a model takes, named as llama-server names it."""
    p.add_argument("--format", default="auto", help="a format name, or auto (detected from the chat template)")
    p.add_argument("--template", metavar="FILE.jinja", help="chat template to use instead of the model's own")
    p.add_argument("--threads", "-t", type=int, help="CPU threads (default: every core, as llama-server)")
    p.add_argument("--n-gpu-layers", "-ngl", type=int, help="layers to offload to the GPU")
    p.add_argument("--ctx-size", "--n-ctx", "-c", dest="ctx_size", type=int, default=4096, help="context size in tokens")


def add_parsers(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[common], help="real small models installed from PyPI, with their paths")
    p.add_argument("name", nargs="?", help="print only this model's path")
    p.set_defaults(trailing="name")

    p = sub.add_parser("tiny-model", parents=[common], help="write a tiny random-weight GGUF (no download)")
    p.add_argument("out", metavar="OUT.gguf")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--template", metavar="FILE.jinja", help="chat template to embed")
    group.add_argument("--format", help="embed this format's own template (if it has one)")

    p = sub.add_parser("demo", parents=[common], help="a real model's tool call, then every format on llama.cpp")
    p.add_argument("formats", nargs="*", metavar="FORMAT", help="only these formats")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(trailing="formats")

    p = sub.add_parser("chat", parents=[common], help="one request on a model; prints the parsed message")
    p.add_argument("message")
    p.add_argument("--model", required=True, metavar="MODEL", help="a GGUF path, a name from `formats models`, or a llama-server URL")
    _model_options(p)
    p.add_argument("--tools", metavar="TOOLS.json")
    p.add_argument("--tool-choice", default="auto")
    p.add_argument("--system")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int)
    p.add_argument("--json", action="store_true", help="print the whole chat.completion")

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="OpenAI-compatible HTTP server on a model in process, a local llama-server, or a pool of llama-servers",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="MODEL", help="a GGUF path or a name from `formats models`")
    source.add_argument(
        "--backend", action="append", metavar="URL", help="a running llama-server to decode on (repeatable: a pool)"
    )
    _model_options(p)
    p.add_argument(
        "--llama-server", action="store_true", help="with --model: decode on a llama-server started for it (continuous batching)"
    )
    p.add_argument("--parallel", "-np", type=int, default=4, help="with --llama-server: its parallel slots")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-queue", type=int, default=128, help="requests that may wait for a slot (past it: 503)")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body accepted (MiB)")


def _model_path(name: str) -> str:
    """A GGUF path, or the path of a real model named as `formats models` names it (checked
    before llama.cpp loads anything)."""
    from ..llama.models import MODELS, ModelNotInstalled, model_path

    if name in MODELS:
        try:
            return str(model_path(name))
        except ModelNotInstalled as exc:
            fail(str(exc))
    if not name.startswith(("http://", "https://")) and not Path(name).is_file():
        fail(f"model file not found: {name} (a GGUF path, a name from `formats models`, or a llama-server URL)")
    return name


def _check_model_options(args) -> None:
    """What can be wrong with the options, found before a model loads."""
    if args.format != "auto":
        get_format(registry_for(args), args.format)
    if args.template:
        read_text(args.template, "template")


@COMMANDS.register("models")
def cmd_models(args) -> int:
    from ..llama.models import MODELS, ModelNotInstalled, model_path

    if args.name:
        try:
            print(model_path(args.name))
        except ModelNotInstalled as exc:
            fail(str(exc))
        return 0
    for model in MODELS.values():
        where = str(model.path()) if model.installed() else "not installed (pip install 'chatformats[models]')"
        print(f"{model.name:<14} {model.description}\n{'':<14} {where}")
    return 0


@COMMANDS.register("tiny-model")
def cmd_tiny_model(args) -> int:
    from ..testing.tiny_model import build_tiny_model

    template = None
    if args.template:
        template = read_text(args.template, "template")
    elif args.format:
        spec = get_format(registry_for(args), args.format).spec
        template = spec.inputs.template
        if template is None:
            fail(f"{args.format} has no template of its own; use --template")
    try:
        path = build_tiny_model(args.out, chat_template=template)
    except OSError as exc:
        fail(f"cannot write {args.out}: {exc.strerror or exc}")
    print(path)
    return 0


@COMMANDS.register("demo")
def cmd_demo(args) -> int:
    from .demo import run_demo

    registry = registry_for(args)
    for name in args.formats:
        get_format(registry, name)
    return run_demo(args.formats or None, seed=args.seed)


def _chat_model(args, source: Any):
    from ..llama import ChatModel
    from ..llama.model import ModelError

    template = read_text(args.template, "template") if args.template else None
    llama_kwargs = {"n_gpu_layers": args.n_gpu_layers} if args.n_gpu_layers is not None else {}
    try:
        model = ChatModel(
            source,
            args.format,
            template=template,
            registry=registry_for(args),
            n_ctx=args.ctx_size,
            n_threads=args.threads,
            **llama_kwargs,
        )
    except ModelError as exc:
        fail(str(exc))
    print(f"format: {model.format.name} ({model.detection.reason})", file=sys.stderr)
    return model


@COMMANDS.register("chat")
def cmd_chat(args) -> int:
    _check_model_options(args)
    tools = read_json(args.tools, "tools") if args.tools else None
    if isinstance(tools, dict):
        tools = tools.get("tools")
    try:
        tools = validate_tools(tools) or None
    except RequestError as exc:
        fail(f"tools {args.tools}: {exc}")
    model = _chat_model(args, _model_path(args.model))
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
        {"role": "user", "content": args.message}
    ]
    choice = args.tool_choice
    if choice not in ("auto", "none", "required"):
        choice = {"type": "function", "function": {"name": choice}}
    try:
        result = model.chat(
            messages,
            tools=tools,
            tool_choice=choice,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            seed=args.seed,
        )
    except (RequestError, TemplateError) as exc:
        print(f"formats chat: {exc}", file=sys.stderr)
        return 1
    print_json(result if args.json else result["choices"][0]["message"])
    return 0


@COMMANDS.register("serve")
def cmd_serve(args) -> int:
    from ..llama.server import Limits, serve

    limits = Limits(max_queue=args.max_queue, max_body_bytes=int(args.max_body_mb * (1 << 20)))
    _check_model_options(args)
    if args.backend:
        from ..llama.pool import PoolBackend
        from ..llama.remote import BackendError, LlamaServerBackend

        try:
            backends = [LlamaServerBackend(url) for url in args.backend]
        except BackendError as exc:
            fail(str(exc))
        model = _chat_model(args, PoolBackend(backends, max_queue=args.max_queue))
        serve(model, host=args.host, port=args.port, limits=limits)
        return 0
    path = _model_path(args.model)
    if not args.llama_server:
        serve(_chat_model(args, path), host=args.host, port=args.port, limits=limits)
        return 0
    from ..llama.remote import LlamaServerBackend
    from ..llama.spawn import LlamaServerProcess, SpawnError

    process = LlamaServerProcess(
        path, slots=args.parallel, threads=args.threads, n_gpu_layers=args.n_gpu_layers, ctx_size=args.ctx_size
    )
    try:
        with process:
            print(f"llama-server: {process.url} ({args.parallel} slots)", file=sys.stderr)
            serve(_chat_model(args, LlamaServerBackend(process.url)), host=args.host, port=args.port, limits=limits)
    except SpawnError as exc:
        fail(str(exc))
    return 0
