"""Shared fixtures: the tiny GGUF model (built once per session) and the real chat templates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One llama.cpp thread per model in tests: the suite runs llama-servers beside in-process models,
# and llama.cpp's spinning OpenMP threads collapse when the cores are oversubscribed.
os.environ.setdefault("CHATFORMATS_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A tiny random-weight GGUF with every built-in format's special tokens, built once."""
    from chatformats.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="session")
def templates_dir() -> Path:
    """Real chat templates: $CHATFORMATS_TEMPLATES_DIR or <repo>/../shared/templates (skip if absent)."""
    from chatformats.testing.templates import shared_templates_path

    path = shared_templates_path()
    if not path.is_dir():
        pytest.skip(f"real chat templates not found at {path} (set CHATFORMATS_TEMPLATES_DIR)")
    return path
