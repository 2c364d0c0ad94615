"""One line on stderr for slow first steps (loading a model, reading a large vocabulary, building
the grammar engine's tokenizer), through logging so that library users decide what shows."""

from __future__ import annotations

import logging

log = logging.getLogger("chatformats.progress")


def progress(message: str) -> None:
    log.info("%s ...", message)
