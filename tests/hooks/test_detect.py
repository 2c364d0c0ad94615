"""`formats detect` maps every real template to the right format, with a reason."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatformats.testing.templates import shared_templates_path
from chatformats.hooks import detect_path
from chatformats.hooks import get_registry

FORMATS = str(Path(sys.executable).parent / "formats")
TEMPLATES = shared_templates_path()

EXPECTED = {
    "CohereForAI-c4ai-command-r-plus-tool_use.jinja": "generic",
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": "generic",
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": "hermes",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": "hermes",
    "Qwen-QwQ-32B.jinja": "hermes",
    "Qwen-Qwen2.5-7B-Instruct.jinja": "hermes",
    "Qwen-Qwen3-0.6B.jinja": "hermes",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": "deepseek-r1",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": "deepseek-r1",
    "deepseek-ai-DeepSeek-V3.1.jinja": "deepseek-v3.1",
    "fireworks-ai-llama-3-firefunction-v2.jinja": "firefunction-v2",
    "google-gemma-2-2b-it.jinja": "generic",
    "llama-cpp-deepseek-r1.jinja": "deepseek-r1",
    "meetkai-functionary-medium-v3.1.jinja": "functionary-v3.1",
    "meetkai-functionary-medium-v3.2.jinja": "functionary-v3.2",
    "meta-llama-Llama-3.1-8B-Instruct.jinja": "llama3",
    "meta-llama-Llama-3.2-3B-Instruct.jinja": "llama3",
    "meta-llama-Llama-3.3-70B-Instruct.jinja": "llama3",
    "microsoft-Phi-3.5-mini-instruct.jinja": "generic",
    "mistralai-Mistral-7B-Instruct-v0.2.jinja": "generic",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": "mistral-nemo",
    "vllm-tool_chat_template_deepseekr1.jinja": "deepseek-r1",
    "vllm-tool_chat_template_deepseekv3.jinja": "deepseek-r1",
    "vllm-tool_chat_template_hermes.jinja": "hermes",
    "vllm-tool_chat_template_llama3.1_json.jinja": "llama3",
    "vllm-tool_chat_template_llama3.2_json.jinja": "llama3",
    # vLLM's pythonic variant writes [f(k=v)] calls: no built-in format has that shape.
    "vllm-tool_chat_template_llama3.2_pythonic.jinja": "generic",
    "vllm-tool_chat_template_mistral.jinja": "mistral-nemo",
    "vllm-tool_chat_template_mistral_parallel.jinja": "mistral-nemo",
}


def _need_templates():
    if not TEMPLATES.is_dir():
        pytest.skip(f"real templates not found at {TEMPLATES} (set CHATFORMATS_TEMPLATES_DIR)")


def test_every_shared_template_is_in_the_table():
    _need_templates()
    assert sorted(p.name for p in TEMPLATES.glob("*.jinja")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detect(name):
    _need_templates()
    registry = get_registry()
    result = detect_path(TEMPLATES / name, registry)
    expected = EXPECTED[name]
    if name.startswith("CohereForAI-c4ai-command-r7b") and "command-r7b" in registry:
        expected = "command-r7b"  # the chatformats-command-r7b plugin is installed
    assert result.format == expected, result.reason
    assert result.reason


def test_detect_cli_json_and_gguf(tmp_path):
    _need_templates()
    from chatformats.testing.tiny_model import build_tiny_model

    source = (TEMPLATES / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text(encoding="utf-8")
    gguf = build_tiny_model(tmp_path / "qwen.gguf", chat_template=source)
    out = subprocess.run(
        [FORMATS, "detect", str(gguf), "--json"], capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout)
    assert data["format"] == "hermes"
    assert data["source"].endswith("tokenizer.chat_template")
