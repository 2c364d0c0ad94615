"""What llama.cpp prints while a call runs (its log callback plus raw fprintf to stderr), captured
so a grammar error comes back as a message instead of noise on the terminal."""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import llama_cpp

_LOG_LOCK = threading.Lock()


@contextmanager
def native_messages() -> Iterator[list[str]]:
    """Collect what llama.cpp says meanwhile: its log callback plus raw fprintf(stderr)."""
    messages: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(level: int, text: bytes, user_data: Any) -> None:
        messages.append(text.decode("utf-8", "replace"))

    with _LOG_LOCK:
        saved = tmp = None
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            tmp = tempfile.TemporaryFile()
            os.dup2(tmp.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2: log callback only
            if saved is not None:
                os.close(saved)
            saved = None
        llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
        try:
            yield messages
        finally:
            from llama_cpp import _logger

            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            if tmp is not None:
                tmp.seek(0)
                messages.insert(0, tmp.read().decode("utf-8", "replace"))
                tmp.close()

