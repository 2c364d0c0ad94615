"""How many real chat templates `formats new --from-template` turns into a conforming spec.

For every template in $CHATFORMATS_TEMPLATES_DIR (default <repo>/../shared/templates): infer a
spec (chatformats.authoring.infer_spec), then run the conformance checks on it with that template
(its generated examples, then the round-trip oracle for one_call, parallel_calls and content_only
with tool_choice auto and required). A template passes only when the inferred spec needs no hand
edit. Templates that cannot show a tool call at all do not pass.

    .venv/bin/python bench/autoparser_coverage.py [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from chatformats.authoring import check_inferred, infer_spec

REPO = Path(__file__).resolve().parent.parent
KINDS = ("one_call", "parallel_calls", "content_only")


def templates_dir() -> Path:
    from chatformats.testing.templates import shared_templates_path

    return shared_templates_path()


def _why(problems: list[str]) -> str:
    """The distinct failures, short: 'kind/choice: message' without the format and path."""
    seen: list[str] = []
    for problem in problems:
        text = problem.split("] ", 1)[-1] if "] " in problem else problem.split(": ", 2)[-1]
        text = text.split(": got ", 1)[0]
        if text not in seen:
            seen.append(text)
    return "; ".join(seen[:3]) + (f" (+{len(seen) - 3} more)" if len(seen) > 3 else "")


def measure(directory: Path) -> list[dict]:
    rows = []
    for path in sorted(directory.glob("*.jinja")):
        source = path.read_text(encoding="utf-8")
        started = time.perf_counter()
        result = infer_spec(source, "inferred")
        if result.spec is None or not result.shows_tool_calls:
            why = next((n for n in result.notes if "cannot show a tool call" in n), None)
            why = why or next((n for n in result.notes if "does not" in n), "no spec")
            rows.append({"template": path.name, "shape": result.shape, "pass": False,
                         "failed": "cannot show tool calls: " + why.split(" (")[0]})
            continue
        problems = check_inferred(result, source, template_path=str(path), kinds=KINDS)
        failed = _why(problems)
        if result.spec.tool_calls.max_calls == 1 and not problems:
            failed = "(parallel_calls not run: the template raises on two calls)"
        rows.append({"template": path.name, "shape": result.shape, "pass": not problems,
                     "failed": failed, "seconds": round(time.perf_counter() - started, 2)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    directory = templates_dir()
    if not directory.is_dir():
        print(f"no templates at {directory} (set CHATFORMATS_TEMPLATES_DIR)", file=sys.stderr)
        return 2
    rows = measure(directory)
    print("| template | inferred shape | passes with no hand edits | what failed |")
    print("|---|---|---|---|")
    for row in rows:
        shape = row["shape"].replace("\n", "\\n").replace("|", "\\|")
        failed = row["failed"].replace("\n", "\\n").replace("|", "\\|")
        print(f"| {row['template']} | `{shape}` | {'yes' if row['pass'] else 'no'} | {failed} |")
    passed = sum(r["pass"] for r in rows)
    print(f"\n{passed} of {len(rows)} templates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
