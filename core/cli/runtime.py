"""`formats` commands that run llama.cpp: tiny-model, demo, chat, serve."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..prompt import RequestError
from .common import Commands, print_json, read_json, registry_for

COMMANDS = Commands()


def add_parsers(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tiny-model", parents=[common], help="write a tiny random-weight GGUF (no download)")
    p.add_argument("out", metavar="OUT.gguf")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--template", metavar="FILE.jinja", help="chat template to embed")
    group.add_argument("--format", help="embed this format's own template (if it has one)")

    p = sub.add_parser("demo", parents=[common], help="run every format on llama.cpp with the tiny model")
    p.add_argument("formats", nargs="*", metavar="FORMAT", help="only these formats")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("chat", parents=[common], help="one request on a model; prints the parsed message")
    p.add_argument("message")
    p.add_argument("--model", required=True, metavar="MODEL.gguf")
    p.add_argument("--format", default="auto")
    p.add_argument("--tools", metavar="TOOLS.json")
    p.add_argument("--tool-choice", default="auto")
    p.add_argument("--system")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int)
    p.add_argument("--json", action="store_true", help="print the whole chat.completion")

    p = sub.add_parser("serve", parents=[common], help="OpenAI-compatible HTTP server")
    p.add_argument("--model", required=True, metavar="MODEL.gguf")
    p.add_argument("--format", default="auto")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--n-ctx", type=int, default=4096)


@COMMANDS.register("tiny-model")
def cmd_tiny_model(args) -> int:
    from ..testing.tiny_model import build_tiny_model

    template = None
    if args.template:
        template = Path(args.template).read_text(encoding="utf-8")
    elif args.format:
        spec = registry_for(args).get(args.format).spec
        template = spec.inputs.template
        if template is None:
            raise SystemExit(f"formats tiny-model: {args.format} has no template of its own; use --template")
    path = build_tiny_model(args.out, chat_template=template)
    print(path)
    return 0


@COMMANDS.register("demo")
def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args.formats or None, seed=args.seed)


def _model(args):
    from ..llama import ChatModel

    model = ChatModel(
        args.model, args.format, registry=registry_for(args), n_ctx=getattr(args, "n_ctx", 4096)
    )
    print(f"format: {model.format.name} ({model.detection.reason})", file=sys.stderr)
    return model


@COMMANDS.register("chat")
def cmd_chat(args) -> int:
    model = _model(args)
    tools = read_json(args.tools, "tools") if args.tools else None
    if isinstance(tools, dict):
        tools = tools.get("tools")
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
    except RequestError as exc:
        print(f"formats chat: {exc}", file=sys.stderr)
        return 2
    print_json(result if args.json else result["choices"][0]["message"])
    return 0


@COMMANDS.register("serve")
def cmd_serve(args) -> int:
    from ..llama.server import serve

    serve(_model(args), host=args.host, port=args.port)
    return 0
