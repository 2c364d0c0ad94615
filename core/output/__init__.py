"""The output seam: model output -> OpenAI assistant message, whole (`parse_output`) or streamed
(`StreamParser`), both driven by one resumable scanner. Imports only `chatformats.spec`."""

from .calls import IdFactory, holdback, new_call_id, parse_python_call, tool_names
from .parse import parse_output
from .scanner import Scanner
from .stream import BufferedStreamParser, StreamParser, message_deltas

__all__ = [
    "BufferedStreamParser",
    "IdFactory",
    "Scanner",
    "StreamParser",
    "holdback",
    "message_deltas",
    "new_call_id",
    "parse_output",
    "parse_python_call",
    "tool_names",
]
