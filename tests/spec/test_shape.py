"""The compiled reading of a spec's wire shape (chatformats.spec.shape)."""

from chatformats.spec.shape import compile_shape
from parse_helpers import real


def test_compiled_spec_is_cached():
    spec = real("hermes")
    assert compile_shape(spec) is compile_shape(spec)
