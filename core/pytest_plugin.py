"""pytest plugin (entry point `pytest11`): conformance checks for format authors.

Fixtures and helpers are added here so a plugin's tests can run the same checks as the built-ins.
"""
