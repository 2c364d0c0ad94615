"""Tooling that checks formats (never used on the request path): the round-trip oracle, what
`formats check` runs, the conformance checks and their pytest plugin, the tiny test model and the
real chat templates."""
