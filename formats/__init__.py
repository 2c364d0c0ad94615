"""Built-in format plugins: hook implementations registered like third-party ones."""
