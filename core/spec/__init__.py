"""The spec seam: the declarative format model, loading it with positions, and its compiled shape.

Everything else reads a format through this package; it imports nothing else of chatformats.
"""

from .loader import Problem, SpecError, load_spec_file, locate, parse_spec_text
from .model import (
    SPEC_VERSION,
    Detect,
    Envelope,
    Example,
    Ids,
    Inputs,
    JsonBody,
    Markers,
    NameBody,
    Reasoning,
    Spec,
    SpecialTool,
    StrictModel,
    ToolCalls,
    Triggers,
    json_schema,
)

__all__ = [
    "SPEC_VERSION",
    "Detect",
    "Envelope",
    "Example",
    "Ids",
    "Inputs",
    "JsonBody",
    "Markers",
    "NameBody",
    "Problem",
    "Reasoning",
    "Spec",
    "SpecError",
    "SpecialTool",
    "StrictModel",
    "ToolCalls",
    "Triggers",
    "json_schema",
    "load_spec_file",
    "locate",
    "parse_spec_text",
]
