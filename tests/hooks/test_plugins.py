"""The plugin system: built-ins as plugins, overrides, spec directories, isolation of broken plugins."""

import textwrap

import pytest

import chatformats
from chatformats.hooks import api
from chatformats.hooks import PluginSet
from chatformats.hooks import Registry, user_spec_dir
from chatformats.spec import Spec

pytestmark = pytest.mark.usefixtures("isolated_config")  # see conftest.py

TOY = {
    "spec_version": 1,
    "name": "toy",
    "description": "a toy format",
    "tool_calls": {"call": {"begin": "<call>", "end": "</call>"}},
}

TOY_YAML = textwrap.dedent(
    """\
    spec_version: 1
    name: toy
    description: a toy format from a spec file
    tool_calls:
      call: {begin: "<call>", end: "</call>"}
    """
)


def make_registry(*plugins, extra_dirs=()):
    plugin_set = PluginSet(load_entry_points=False)
    for plugin in plugins:
        plugin_set.register(plugin)
    return Registry(plugin_set, extra_dirs)


def test_builtin_formats_come_from_the_builtin_plugin():
    registry = make_registry()
    assert {"generic", "hermes"} <= set(registry.formats)
    assert registry.get("hermes").plugin == "chatformats.formats.builtin (built-in)"
    assert registry.get("hermes").path.endswith("hermes.yaml")
    assert not registry.problems and not registry.plugin_errors


def test_plugin_registers_a_spec_and_overrides_one_step_for_its_format_only():
    class ToyPlugin:
        @chatformats.hookimpl
        def register_formats(self, register):
            register(Spec.model_validate(TOY))

        @chatformats.hookimpl
        def parse_output(self, format, text):
            if format.name != "toy":
                return None
            return {"role": "assistant", "content": text.upper()}

    registry = make_registry(ToyPlugin())
    assert api.parse("toy", "hi", registry=registry)["content"] == "HI"
    # Other formats still use the spec-driven default.
    assert api.parse("hermes", "hi", registry=registry)["content"] == "hi"


class ToyHooks:
    """Per-format hooks: plain methods, any subset of each hook's arguments."""

    def parse_output(self, text):
        return {"role": "assistant", "content": text.upper()}

    def stream_parser(self, format, tools, in_reasoning):
        return chatformats.BufferedStreamParser(lambda text: {"role": "assistant", "content": f"{format.name}:{text}"})


class ToyWithHooks:
    @chatformats.hookimpl
    def register_formats(self, register):
        register(Spec.model_validate(TOY), hooks=ToyHooks())


def test_per_format_hooks_apply_to_their_format_only():
    registry = make_registry(ToyWithHooks())
    assert registry.get("toy").hooks is not None
    assert api.parse("toy", "hi", registry=registry)["content"] == "HI"
    assert api.parse("hermes", "hi", registry=registry)["content"] == "hi"
    parser = api.stream_parser("toy", registry=registry)
    parser.feed("a")
    assert parser.finish()[1]["content"] == "toy:a"
    # Steps the hooks object does not have fall through to the spec's defaults.
    assert "toy" in api.render("toy", {"messages": [{"role": "user", "content": "x"}]}, "{{ messages[0].content }}toy", registry=registry)


def test_a_spec_file_overriding_a_format_keeps_its_plugin_hooks(tmp_path, monkeypatch):
    (tmp_path / "toy.yaml").write_text(TOY_YAML)
    monkeypatch.setenv("CHATFORMATS_SPECS_PATH", str(tmp_path))
    registry = make_registry(ToyWithHooks())
    assert registry.get("toy").spec.description == "a toy format from a spec file"
    assert api.parse("toy", "hi", registry=registry)["content"] == "HI"


@pytest.mark.parametrize(
    "hooks, message",
    [
        (object(), "has none of render_prompt"),
        (type("Typo", (), {"parse_output": lambda self, txt: None})(), "hooks.parse_output takes txt"),
    ],
)
def test_a_bad_hooks_object_is_reported_and_its_format_not_registered(hooks, message):
    class Bad:
        @chatformats.hookimpl
        def register_formats(self, register):
            register(Spec.model_validate(TOY), hooks=hooks)

    registry = make_registry(Bad())
    assert "toy" not in registry and "hermes" in registry
    [error] = registry.plugin_errors
    assert message in str(error) and "Bad" in str(error)


def test_a_format_built_by_hand_gets_the_registry_hooks():
    """Formats carry no plugin manager: the public functions ask the registry's hooks."""

    class Shout:
        @chatformats.hookimpl
        def parse_output(self, format, text):
            return {"role": "assistant", "content": text.upper()} if format.name == "toy" else None

    registry = make_registry(Shout())
    fmt = chatformats.Format(Spec.model_validate(TOY), plugin="by hand", origin="test")
    assert api.parse(fmt, "hi", registry=registry)["content"] == "HI"
    assert api.parse(fmt, "hi")["content"] == "hi"  # the process registry has no such plugin


def test_spec_file_in_specs_path_is_loaded_and_overrides_are_recorded(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "toy.yaml").write_text(TOY_YAML)
    (two / "toy.yaml").write_text(TOY_YAML.replace("from a spec file", "second"))
    monkeypatch.setenv("CHATFORMATS_SPECS_PATH", f"{one}:{two}")
    registry = make_registry()
    toy = registry.get("toy")
    assert toy.spec.description == "a toy format second"
    assert toy.overrides == [f"{one / 'toy.yaml'} (spec file)"]


def test_user_config_dir_honours_xdg(tmp_path):
    assert user_spec_dir() == tmp_path / "config" / "chatformats" / "specs"
    user_spec_dir().mkdir(parents=True)
    (user_spec_dir() / "hermes.yaml").write_text(TOY_YAML.replace("name: toy", "name: hermes"))
    registry = make_registry()
    assert registry.get("hermes").spec.description == "a toy format from a spec file"
    assert "built-in" in registry.get("hermes").overrides[0]


def test_cli_specs_dir_comes_last(tmp_path, monkeypatch):
    env_dir, cli_dir = tmp_path / "env", tmp_path / "cli"
    env_dir.mkdir()
    cli_dir.mkdir()
    (env_dir / "toy.yaml").write_text(TOY_YAML.replace("from a spec file", "env"))
    (cli_dir / "toy.yaml").write_text(TOY_YAML.replace("from a spec file", "cli"))
    monkeypatch.setenv("CHATFORMATS_SPECS_PATH", str(env_dir))
    registry = make_registry(extra_dirs=[cli_dir])
    assert registry.get("toy").spec.description == "a toy format cli"


def test_invalid_spec_file_is_reported_and_harms_nothing(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text("spec_version: 1\nname: bad\n")
    monkeypatch.setenv("CHATFORMATS_SPECS_PATH", str(tmp_path))
    registry = make_registry()
    assert "bad" not in registry
    assert "hermes" in registry
    assert [str(p) for p in registry.problems] == [f"{tmp_path / 'bad.yaml'}:1:1: tool_calls: field required"]


def test_a_raising_plugin_is_reported_with_its_name():
    class Broken:
        @chatformats.hookimpl
        def register_formats(self, register):
            raise RuntimeError("boom")

    registry = make_registry(Broken())
    assert "hermes" in registry
    [error] = registry.plugin_errors
    assert "boom" in str(error) and "Broken" in str(error)


def test_two_plugins_with_one_name_conflict_first_wins():
    class One:
        @chatformats.hookimpl
        def register_formats(self, register):
            register(Spec.model_validate(TOY))

    class Two:
        @chatformats.hookimpl
        def register_formats(self, register):
            register(Spec.model_validate({**TOY, "description": "two"}))

    registry = make_registry(One(), Two())
    assert registry.get("toy").spec.description == "a toy format"
    assert any("already registered" in str(e) for e in registry.plugin_errors)


def test_misspelled_hook_is_caught_by_check_pending():
    class Typo:
        @chatformats.hookimpl
        def parse_ouput(self, format, text):
            return None

    plugin_set = PluginSet(load_entry_points=False)
    plugin_set.register(Typo(), name="typo")
    [problem] = plugin_set.check_pending()
    assert "parse_ouput" in str(problem) and "typo" in str(problem)


def _fake_distribution(root, name, module_source):
    """An installed distribution on sys.path with a `chatformats` entry point."""
    dist = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[chatformats]\n{name.replace('-', '_')} = {name.replace('-', '_')}_mod\n")
    if module_source is not None:
        (root / f"{name.replace('-', '_')}_mod.py").write_text(module_source)


def test_entry_point_plugins_load_and_broken_ones_are_reported(tmp_path):
    import json
    import os
    import subprocess
    import sys

    _fake_distribution(tmp_path, "cf-broken", "import nonexistent_dependency\n")
    _fake_distribution(
        tmp_path,
        "cf-toy",
        "import chatformats\n\n"
        "@chatformats.hookimpl\n"
        "def register_formats(register):\n"
        f"    register(chatformats.Spec.model_validate({TOY!r}))\n",
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    formats = str(__import__("pathlib").Path(sys.executable).parent / "formats")

    out = subprocess.run([formats, "list", "--json"], capture_output=True, text=True, env=env, check=True)
    data = json.loads(out.stdout)
    toy = next(f for f in data["formats"] if f["name"] == "toy")
    assert toy["plugin"] == "cf_toy (cf-toy 1.0)"
    assert any("cf_broken" in e and "nonexistent_dependency" in e for e in data["errors"])
    assert "hermes" in {f["name"] for f in data["formats"]}

    check = subprocess.run([formats, "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 1 and "cf_broken" in check.stdout

    only = {**env, "CHATFORMATS_LOAD_PLUGINS": "cf-toy"}
    data = json.loads(subprocess.run([formats, "list", "--json"], capture_output=True, text=True, env=only).stdout)
    assert "toy" in {f["name"] for f in data["formats"]} and not data["errors"]
    none = {**env, "CHATFORMATS_LOAD_PLUGINS": ""}
    data = json.loads(subprocess.run([formats, "list", "--json"], capture_output=True, text=True, env=none).stdout)
    assert "toy" not in {f["name"] for f in data["formats"]}
