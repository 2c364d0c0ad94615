"""Built-in YAML format specs, shipped as package data."""
