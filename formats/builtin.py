"""Registers the built-in YAML specs (chatformats.specs) through the public hook."""

from importlib import resources

from chatformats import hookimpl


@hookimpl
def register_formats(register):
    for entry in sorted(resources.files("chatformats.specs").iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            register(entry)
