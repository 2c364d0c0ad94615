"""The real chat templates (../shared/templates) and which one shows each format.

Tests, the demo and the benchmarks read real templates from the shared folder beside this checkout
(or $CHATFORMATS_TEMPLATES_DIR); a format without one at hand is shown with its own template, else a
plain template of ours.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


# A plain template of our own, for formats without one when the real templates are not at hand:
# ChatML turns with the tools listed as JSON in the system turn.
DEMO_TEMPLATE = """\
{%- if tools %}<|im_start|>system
You may call these tools:
{% for tool in tools %}{{ tool.function | tojson }}
{% endfor %}<|im_end|>
{% endif %}
{%- for message in messages %}<|im_start|>{{ message.role }}
{{ message.content if message.content is string else '' }}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

def shared_templates_path() -> Path:
    """Where the real chat templates are expected: $CHATFORMATS_TEMPLATES_DIR, else the `shared/templates`
    folder beside this checkout."""
    env = os.environ.get("CHATFORMATS_TEMPLATES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "templates"


def templates_dir() -> Optional[Path]:
    """The real chat templates, if they are at hand (also looked for beside the working directory)."""
    for path in (shared_templates_path(), Path.cwd().parent / "shared" / "templates"):
        if path.is_dir():
            return path
    return None


def template_for(fmt, directory: Optional[Path]) -> tuple[Optional[str], str]:
    """(template source, description) used to show `fmt`: its first reference template when at hand."""
    name = next(iter(fmt.spec.reference_templates), None)
    if directory and name and (directory / name).exists():
        return (directory / name).read_text(encoding="utf-8"), name
    if fmt.spec.inputs.template is not None:
        return None, "the format's own template"
    return DEMO_TEMPLATE, "chatformats' plain demo template"
