"""0.1's flat module paths keep working for one release: the same module object under the old
name, a DeprecationWarning naming the new path, and every public name of 0.1 still there (except
the few listed as removed, each with where it went)."""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path

import pytest

import chatformats
from chatformats.compat import ALIASES

OLD_PUBLIC_NAMES = json.loads((Path(__file__).parent / "old_public_names.json").read_text())

# old module -> a public name that must be the very object the new module has
ATTRIBUTE = {
    "api": "plan",
    "check": "check_format",
    "cli_authoring": "cmd_new",
    "cli_runtime": "cmd_chat",
    "conformance": "conformance_problems",
    "defaults": "parse_output",
    "demo": "run_demo",
    "detect": "detect_template",
    "engine": "Engine",
    "hookspecs": "hookimpl",
    "json_schema_gbnf": "GbnfBuilder",
    "llama_grammar": "validate_gbnf",
    "loader": "load_spec_file",
    "oracle": "run_oracle",
    "parse": "parse_output",
    "plugins": "PluginSet",
    "pytest_plugin": "chatformats_conformance",
    "registry": "Registry",
    "render": "render_prompt",
    "runtime": "ChatModel",
    "server": "create_app",
    "stream": "StreamParser",
    "template": "compile_template",
    "tiny_model": "build_tiny_model",
}

# Public names of 0.1 that are gone on purpose, and where their job went.
REMOVED = {
    "authoring": {  # probe constants: chatformats.authoring.probes / .skeleton
        "ARGS_A", "ARGS_B", "CLOSERS", "CONTENT", "EOS_PROBE", "KNOWN_VARIABLES", "LONG_ID",
        "OPENERS", "PROBE_TOOLS", "REASONING", "REASONING_FIELDS", "SKELETON", "SYSTEM_TEXT",
        "TURN_STARTS", "USER",
    },
    # the command table and its loading: one module per command group (chatformats.cli.*)
    "cli": {"COMMANDS", "EXTRA_PARSERS", "command", "cmd_check", "cmd_detect", "cmd_list",
            "cmd_parse", "cmd_render", "cmd_schema"},
    "demo": {"REAL_TEMPLATES"},  # each spec's reference_templates
    "oracle": {"END_OF_TURN"},  # each spec's stop and end_of_turn
    "tiny_model": {"SPECIAL_TOKENS"},  # each spec's control_tokens
    "parse": {"log"},
    "server": {"SAMPLING_FIELDS"},  # the server was rewritten around backends
    # client text is protected before rendering (chatformats.prompt.protect), not found after it
    "runtime": {"prompt_parts", "untrusted_strings"},
}


def test_every_old_module_is_covered():
    assert set(ALIASES) == set(ATTRIBUTE)
    assert set(OLD_PUBLIC_NAMES) == set(ALIASES) | {"authoring", "cli", "grammar", "spec"}


def fresh_import(name: str):
    """Import `name` as if for the first time; return (module, warnings raised meanwhile)."""
    sys.modules.pop(name, None)
    parent, _, child = name.rpartition(".")
    if child in vars(sys.modules[parent]):
        delattr(sys.modules[parent], child)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(name)
    return module, caught


@pytest.mark.parametrize("old", sorted(ALIASES))
def test_old_path_is_the_new_module_and_warns(old):
    new_name = f"chatformats.{ALIASES[old]}"
    new = importlib.import_module(new_name)
    module, caught = fresh_import(f"chatformats.{old}")
    assert module is new and sys.modules[f"chatformats.{old}"] is new
    assert new.__spec__.name == new_name  # the real module keeps its own identity
    assert getattr(chatformats, old) is new  # `chatformats.<old>` attribute access too
    attribute = ATTRIBUTE[old]
    assert getattr(module, attribute) is getattr(new, attribute)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any(f"chatformats.{old} is deprecated" in m and new_name in m for m in messages), messages


@pytest.mark.parametrize("old", sorted(OLD_PUBLIC_NAMES))
def test_old_public_names_still_resolve(old):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(f"chatformats.{old}")
    removed = REMOVED.get(old, set())
    missing = [n for n in OLD_PUBLIC_NAMES[old] if n not in removed and not hasattr(module, n)]
    assert not missing, f"chatformats.{old} lost {missing}"


def test_the_packages_that_kept_their_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from chatformats.grammar import NO_GRAMMAR, GrammarPlan, build_grammar, derive_triggers  # noqa: F401
        from chatformats.spec import SPEC_VERSION, Spec, SpecialTool, ToolCalls, Triggers, json_schema  # noqa: F401


def test_an_unknown_name_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("chatformats.no_such_module")
