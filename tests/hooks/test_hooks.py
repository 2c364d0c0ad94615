"""Every hook, exercised by an in-test plugin whose effect is asserted (`test_hook_<name>`), both as a
global hook and as a per-format hook. `test_every_hook_has_a_test` fails when a hookspec has none
(in the spirit of datasette's test_plugin_hooks_have_tests)."""

from __future__ import annotations

import sys

import pytest

import chatformats
from chatformats.hooks import FORMAT_HOOKS, PluginSet, Registry, api, hookspecs
from chatformats.spec import Spec, Triggers

pytestmark = pytest.mark.usefixtures("isolated_config")  # see conftest.py

TOY = {"spec_version": 1, "name": "toy", "tool_calls": {"call": {"begin": "<call>", "end": "</call>"}}}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
REQUEST = {"messages": [{"role": "user", "content": "hi"}]}
TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"


def registry_with(*plugins) -> Registry:
    plugin_set = PluginSet(load_entry_points=False)
    plugin_set.register(RegistersToy())
    for plugin in plugins:
        plugin_set.register(plugin)
    return Registry(plugin_set)


class RegistersToy:
    @chatformats.hookimpl
    def register_formats(self, register):
        register(Spec.model_validate(TOY))


def hookspec_names() -> list[str]:
    return sorted(
        name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "chatformats_spec")
    )


def test_every_hook_has_a_test():
    module = sys.modules[__name__]
    missing = [name for name in hookspec_names() if not hasattr(module, f"test_hook_{name}")]
    assert not missing, f"add a test_hook_<name> for: {missing}"
    assert set(FORMAT_HOOKS) == set(hookspec_names()) - {"register_formats"}


def test_hook_register_formats():
    registry = registry_with()
    assert registry.get("toy").plugin == "RegistersToy"
    assert "hermes" in registry  # the built-ins register through the same hook


# Each remaining hook: a global implementation (guarded by format name), then the same behaviour
# given per format with register(spec, hooks=...).


class Global:
    @chatformats.hookimpl
    def render_prompt(self, format, request):
        return f"PROMPT {len(request['messages'])}" if format.name == "toy" else None

    @chatformats.hookimpl
    def choose_triggers(self, format):
        return Triggers(words=["<<go>>"]) if format.name == "toy" else None

    @chatformats.hookimpl
    def build_grammar(self, format, tool_choice):
        if format.name != "toy":
            return None
        if tool_choice == "required":
            return chatformats.NO_GRAMMAR
        return chatformats.GrammarPlan(gbnf='root ::= "<call>x</call>"', lazy=True, words=["<call>"])

    @chatformats.hookimpl
    def parse_output(self, format, text):
        return {"role": "assistant", "content": text.upper()} if format.name == "toy" else None

    @chatformats.hookimpl
    def stream_parser(self, format):
        if format.name != "toy":
            return None
        return chatformats.BufferedStreamParser(lambda text: {"role": "assistant", "content": text[::-1]})


class PerFormat:
    def render_prompt(self, request):
        return f"PROMPT {len(request['messages'])}"

    def choose_triggers(self):
        return Triggers(words=["<<go>>"])

    def build_grammar(self, tool_choice):
        if tool_choice == "required":
            return chatformats.NO_GRAMMAR
        return chatformats.GrammarPlan(gbnf='root ::= "<call>x</call>"', lazy=True, words=["<call>"])

    def parse_output(self, text):
        return {"role": "assistant", "content": text.upper()}

    def stream_parser(self):
        return chatformats.BufferedStreamParser(lambda text: {"role": "assistant", "content": text[::-1]})


class RegistersToyWithHooks:
    @chatformats.hookimpl
    def register_formats(self, register):
        register(Spec.model_validate(TOY), hooks=PerFormat())


@pytest.fixture(params=["global", "per-format"])
def registry(request) -> Registry:
    if request.param == "global":
        return registry_with(Global())
    per_format = PluginSet(load_entry_points=False)
    per_format.register(RegistersToyWithHooks())
    return Registry(per_format)


def test_hook_render_prompt(registry):
    assert api.render("toy", REQUEST, TEMPLATE, registry=registry) == "PROMPT 1"
    assert api.render("hermes", REQUEST, TEMPLATE, registry=registry) == "hi"


def test_hook_choose_triggers(registry):
    # build_grammar answers for toy here, so ask the hook directly and through the default grammar
    hook = registry.hook
    fmt = registry.get("toy")
    assert hook.choose_triggers(format=fmt, tools=TOOLS, tool_choice="auto").words == ["<<go>>"]
    hermes = registry.get("hermes")
    assert hook.choose_triggers(format=hermes, tools=TOOLS, tool_choice="auto").words == ["<tool_call>"]


def test_hook_choose_triggers_feeds_the_default_grammar():
    class TriggersOnly:
        @chatformats.hookimpl
        def choose_triggers(self, format):
            return Triggers(words=["<<go>>"]) if format.name == "toy" else None

    plan = api.plan("toy", TOOLS, "auto", registry=registry_with(TriggersOnly()))
    assert plan.lazy and plan.words == ["<<go>>"]


def test_hook_build_grammar(registry):
    plan = api.plan("toy", TOOLS, "auto", registry=registry)
    assert plan.gbnf == 'root ::= "<call>x</call>"' and plan.words == ["<call>"]
    assert api.plan("toy", TOOLS, "required", registry=registry) is None  # NO_GRAMMAR
    assert api.plan("hermes", TOOLS, "auto", registry=registry).words == ["<tool_call>"]


def test_hook_parse_output(registry):
    assert api.parse("toy", "hi", registry=registry)["content"] == "HI"
    assert api.parse("hermes", "hi", registry=registry)["content"] == "hi"


def test_hook_stream_parser(registry):
    parser = api.stream_parser("toy", registry=registry)
    assert parser.feed("abc") == []
    deltas, message = parser.finish()
    assert message["content"] == "cba" and deltas == [{"content": "cba"}]
    assert type(api.stream_parser("hermes", registry=registry)).__name__ == "StreamParser"
