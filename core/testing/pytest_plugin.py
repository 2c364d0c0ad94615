"""pytest plugin (entry point `pytest11`): the conformance checks the built-in formats pass.

A format plugin's test suite needs only::

    def test_my_format_conforms(chatformats_conformance):
        chatformats_conformance("my-format", templates=["path/to/model.jinja"])

It runs the spec's examples (parse, trigger, grammar acceptance by llama.cpp) and the round-trip
oracle for each template and message kind, and fails listing every problem.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def chatformats_registry():
    """A freshly built registry (built-ins, installed plugins, spec directories)."""
    from chatformats.hooks import get_registry

    return get_registry(refresh=True)


@pytest.fixture
def chatformats_conformance(chatformats_registry):
    """Call with a format name (plus templates/kinds) to assert it conforms."""
    from chatformats.testing.conformance import conformance_problems

    def check(format, templates=(), kinds=("one_call", "parallel_calls", "content_only"), tool_choices=("auto", "required")):
        problems = conformance_problems(
            format, templates, kinds, tool_choices, registry=chatformats_registry
        )
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)

    return check
