"""The request path (ChatModel and the server, down to parsing) uses none of the tooling: no
chatformats.testing (oracle, tiny model), .authoring or .cli module is imported, and planning a
grammar without a model does not build the tiny test model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TOOLING = ("chatformats.testing", "chatformats.authoring", "chatformats.cli")

SCRIPT = """
import json, os, sys
import chatformats
import chatformats.llama.model
import chatformats.llama.server
from chatformats.llama import ChatModel

tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
plan = chatformats.plan("hermes", tools, "required")  # validated without a model
model = ChatModel(sys.argv[1], "hermes", template=sys.argv[2])
reply = model.chat([{"role": "user", "content": "hi"}], tools=tools, tool_choice="required", max_tokens=24)
for chunk in model.chat([{"role": "user", "content": "hi"}], tools=tools, max_tokens=8, stream=True):
    pass
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith("chatformats")),
    "cache": sorted(os.listdir(os.environ["CHATFORMATS_CACHE"])),
    "plan": plan is not None,
    "finish": reply["choices"][0]["finish_reason"],
}))
"""

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_the_request_path_imports_no_tooling(tiny_model_path, tmp_path):
    env = {**os.environ, "CHATFORMATS_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_model_path), TEMPLATE],
        capture_output=True, text=True, env=env, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["plan"] and result["finish"]
    tooling = [m for m in result["modules"] if m.startswith(TOOLING)]
    assert not tooling, f"the request path imported {tooling}"
    assert "chatformats.llama.model" in result["modules"]
    # the host's byte vocabulary was written; no tiny test model was built
    assert not [name for name in result["cache"] if name.startswith("tiny-")], result["cache"]
