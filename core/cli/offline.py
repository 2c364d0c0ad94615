"""`formats` commands on the formats themselves, with no model of yours: list, check, render,
parse, detect, schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..hooks import DetectError, Format, api, detect_path, spec_files
from ..prompt import RequestError, TemplateError, validate_tools
from ..spec import SpecError, json_schema, load_spec_file
from .common import Commands, fail, get_format, print_json, read_json, read_text, registry_for

COMMANDS = Commands()


def add_parsers(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("list", parents=[common], help="list formats and where they come from")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("check", parents=[common], help="validate spec files and formats")
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec files or directories (default: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(trailing="paths")

    p = sub.add_parser("render", parents=[common], help="render a request into a prompt")
    p.add_argument("format")
    p.add_argument("--request", required=True, metavar="REQUEST.json", help="OpenAI request body (- for stdin)")
    p.add_argument("--template", metavar="FILE.jinja", help="the model's chat template")
    p.add_argument("--json", action="store_true", help="also print grammar, triggers and stop markers")

    p = sub.add_parser("parse", parents=[common], help="parse model output into an assistant message")
    p.add_argument("format")
    p.add_argument("file", nargs="?", metavar="FILE", help="model output (default: stdin)")
    p.add_argument("--tools", metavar="TOOLS.json", help="the request's tools (a list or {tools: [...]})")
    p.add_argument("--in-reasoning", action="store_true", help="the prompt ended inside <think>")
    p.set_defaults(trailing="file")

    p = sub.add_parser("detect", parents=[common], help="which format a template or GGUF uses")
    p.add_argument("path", metavar="TEMPLATE.jinja|MODEL.gguf")
    p.add_argument("--json", action="store_true")

    sub.add_parser("schema", parents=[common], help="print the spec JSON Schema")


# -- list ---------------------------------------------------------------------


@COMMANDS.register("list")
def cmd_list(args: argparse.Namespace) -> int:
    registry = registry_for(args)
    formats = [f.to_dict() for f in registry]
    errors = [str(e) for e in registry.plugin_errors] + [str(p) for p in registry.problems]
    if args.json:
        print_json({"formats": formats, "errors": errors})
        return 0
    width = max((len(f["name"]) for f in formats), default=4)
    for f in formats:
        print(f"{f['name']:<{width}}  {f['description']}")
        print(f"{'':<{width}}  from {f['plugin']}: {f['origin']}")
        for old in f["overrides"]:
            print(f"{'':<{width}}  overrides {old}")
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return 0


# -- check --------------------------------------------------------------------


@COMMANDS.register("check")
def cmd_check(args: argparse.Namespace) -> int:
    from ..testing.check import CheckProblem, check_format

    registry = registry_for(args)
    problems: list[str] = []
    formats: list[Format] = []
    if args.paths:
        for raw in args.paths:
            path = Path(raw)
            files = spec_files(path) if path.is_dir() else [path]
            if path.is_dir() and not files:
                problems.append(f"{path}: no .yaml spec files here")
            for file in files:
                try:
                    spec = load_spec_file(file)
                except SpecError as exc:
                    problems.extend(str(p) for p in exc.problems)
                    continue
                formats.append(Format(spec, plugin="spec file", origin=str(file), path=str(file)))
    else:
        formats = list(registry)
        problems.extend(str(p) for p in registry.problems)
        problems.extend(str(e) for e in registry.plugin_errors)
    problems.extend(str(e) for e in registry.plugins.check_pending())
    found: list[CheckProblem] = []
    for fmt in formats:
        found.extend(check_format(fmt, registry))
    problems.extend(str(p) for p in found)
    if args.json:
        print_json({"ok": not problems, "checked": [f.name for f in formats], "problems": problems})
    else:
        for line in problems:
            print(line)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        print(f"checked {len(formats)} format(s): {status}", file=sys.stderr)
    return 1 if problems else 0


# -- render / parse -----------------------------------------------------------


@COMMANDS.register("render")
def cmd_render(args: argparse.Namespace) -> int:
    registry = registry_for(args)
    fmt = get_format(registry, args.format)
    request = read_json(args.request, "request")
    template = read_text(args.template, "template") if args.template else None
    try:
        prompt = api.render(fmt, request, template, registry=registry)
        tools = request.get("tools") or []
        plan = api.plan(
            fmt,
            tools,
            request.get("tool_choice", "auto"),
            request.get("parallel_tool_calls", True),
            registry=registry,
        )
    except (RequestError, TemplateError) as exc:
        print(f"formats render: {exc}", file=sys.stderr)
        return 1
    if not args.json:
        sys.stdout.write(prompt)
        if not prompt.endswith("\n"):
            sys.stdout.write("\n")
        return 0
    stop = list(fmt.spec.stop)
    for special in fmt.spec.tool_calls.special_tools:
        stop += [s for s in special.stop if s not in stop]
    print_json(
        {
            "format": fmt.name,
            "prompt": prompt,
            "grammar": plan.gbnf if plan else None,
            "lazy": plan.lazy if plan else None,
            "triggers": plan.triggers_dict() if plan else None,
            "stop": stop,
        }
    )
    return 0


@COMMANDS.register("parse")
def cmd_parse(args: argparse.Namespace) -> int:
    registry = registry_for(args)
    fmt = get_format(registry, args.format)
    tools = read_json(args.tools, "tools") if args.tools else None
    if isinstance(tools, dict) and "tools" in tools:
        tools = tools["tools"]
    try:
        tools = validate_tools(tools) or None
    except RequestError as exc:
        fail(f"tools {args.tools}: {exc}")
    text = read_text(args.file or "-", "model output")
    print_json(api.parse(fmt, text, tools, in_reasoning=args.in_reasoning, registry=registry))
    return 0


# -- detect / schema ----------------------------------------------------------


@COMMANDS.register("detect")
def cmd_detect(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        fail(f"no such file: {path}")
    try:
        result = detect_path(path, registry_for(args))
    except (DetectError, TemplateError) as exc:
        fail(str(exc))
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{result.format}: {result.reason}")
    return 0


@COMMANDS.register("schema")
def cmd_schema(args: argparse.Namespace) -> int:
    print_json(json_schema())
    return 0
