"""Command R7B for chatformats: the whole format is a spec; the plugin only registers it."""

from importlib import resources

import chatformats


@chatformats.hookimpl
def register_formats(register):
    register(resources.files(__name__) / "command-r7b.yaml")
