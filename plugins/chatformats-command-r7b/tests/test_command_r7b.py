
import pytest

from chatformats.testing.templates import shared_templates_path

TEMPLATE = shared_templates_path() / "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja"


def test_registered_from_this_distribution(chatformats_registry):
    fmt = chatformats_registry.get("command-r7b")
    assert "chatformats-command-r7b 0.1.0" in fmt.plugin


def test_conforms(chatformats_conformance):
    if not TEMPLATE.exists():
        pytest.skip(f"Command R7B template not found at {TEMPLATE} (set CHATFORMATS_TEMPLATES_DIR)")
    chatformats_conformance(
        "command-r7b",
        templates=[TEMPLATE],
        kinds=["one_call", "parallel_calls", "content_only", "reasoning_and_call"],
    )


def test_detected_from_its_template(chatformats_registry):
    if not TEMPLATE.exists():
        pytest.skip("Command R7B template not found")
    from chatformats.hooks import detect_path

    assert detect_path(TEMPLATE, chatformats_registry).format == "command-r7b"
