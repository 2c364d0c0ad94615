"""`formats new`: write a spec skeleton, or infer one from a chat template."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .common import Commands, print_json, read_text, write_text

COMMANDS = Commands()

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def add_parsers(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "new", parents=[common], help="write a new spec (a commented skeleton, or inferred from a template)"
    )
    p.add_argument("name", help="the format's name (lowercase letters, digits, . _ -)")
    p.add_argument(
        "--from-template", metavar="T.jinja", help="infer the spec by rendering this chat template with probes"
    )
    p.add_argument("--out", metavar="FILE", help="write the YAML here (default: stdout)")
    p.add_argument("--json", action="store_true", help="print the inference report as JSON")
    p.add_argument(
        "--no-check", action="store_true", help="skip the conformance run on the inferred spec"
    )


@COMMANDS.register("new")
def cmd_new(args: argparse.Namespace) -> int:
    from ..authoring import check_inferred, infer_spec, skeleton_yaml, spec_yaml

    if not _NAME.match(args.name):
        print(f"formats new: {args.name!r} is not a valid format name (use lowercase letters, digits, . _ -)", file=sys.stderr)
        return 2
    if not args.from_template:
        text = skeleton_yaml(args.name)
        report = {"name": args.name, "skeleton": True}
        problems = None
    else:
        path = Path(args.from_template)
        source = read_text(args.from_template, "template")
        result = infer_spec(source, args.name)
        problems = None
        if result.spec is not None and result.shows_tool_calls and not args.no_check:
            problems = check_inferred(result, source, template_path=str(path))
        text = spec_yaml(result, problems, template_label=str(path))
        report = {**result.to_dict(), "conformance": problems}
        report["evidence"] = {k: v for k, v in result.evidence.items() if not k.startswith("_")}
    if args.out:
        write_text(args.out, text, "spec")
    if args.json:
        print_json({**report, "yaml": None if args.out else text, "out": args.out})
    elif not args.out:
        sys.stdout.write(text)
    if args.from_template:
        _summary(report, args.out)
    return 0


def _summary(report: dict, out) -> None:
    """What passed and what could not be inferred, on stderr (stdout may be the YAML)."""
    lines = [f"inferred {report['name']}: {report['shape']}"]
    lines += [f"  note: {n}" for n in report["notes"]]
    problems = report.get("conformance")
    if problems is None:
        lines.append("  conformance: not run (the template shows no tool calls, or --no-check)")
    elif not problems:
        lines.append("  conformance: passed (examples, round trip one_call/parallel_calls/content_only, auto and required)")
    else:
        lines.append(f"  conformance: {len(problems)} problem(s)")
        lines += [f"    {p}" for p in problems]
    if out:
        lines.append(f"  wrote {out}")
    print("\n".join(lines), file=sys.stderr)
