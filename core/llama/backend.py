"""Where decoding happens: a backend turns a prepared prompt into generation events.

ChatModel renders, constrains and parses; a backend only decodes. Two kinds:
- `LocalBackend`: llama.cpp in this process (the `Engine`), one generation at a time;
- `LlamaServerBackend` (remote.py): a llama-server's /completion endpoint, any number at a time.
Both tokenize client text without special-token parsing and take the same grammar and triggers.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, AsyncIterator, Iterable, Iterator, Optional, Sequence, Union

from .engine import Engine, GenEvent
from .gbnf import validate_gbnf
from .untrusted import control_texts

Parts = Sequence[tuple[str, bool]]  # (text, parse_special)


class Backend:
    """What ChatModel needs from a decoder (see LocalBackend and LlamaServerBackend)."""

    name: str = "model"
    chat_templates: dict[str, str]  # "default" and, when the model has one, "tool_use"
    bos_token: str = ""
    eos_token: str = ""
    control_texts: frozenset[str] = frozenset()
    slots: int = 1  # how many generations it runs at once

    def single_token(self, text: str) -> Optional[int]:
        raise NotImplementedError

    def control_texts_for(self, templates: Iterable[str], markers: Iterable[str]) -> frozenset[str]:
        """The control-token texts to protect when rendering with `templates` for a format whose
        markers are `markers` (special tokens they name count too)."""
        return self.control_texts

    def check_grammar(self, gbnf: str) -> None:
        """Raise GrammarError when the backend's grammar engine cannot take `gbnf`."""
        validate_gbnf(gbnf)

    def specialize(self, gbnf: str) -> str:
        """The grammar as this backend's engine should run it (see gbnf.token_references)."""
        return gbnf

    def tokenize(self, parts: Parts) -> list[int]:
        raise NotImplementedError

    def generate(self, prompt_tokens: list[int], **options: Any) -> Iterator[GenEvent]:
        raise NotImplementedError

    def agenerate(self, prompt_tokens: list[int], **options: Any) -> AsyncIterator[GenEvent]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalBackend(Backend):
    """llama.cpp in process. `agenerate` runs the engine in a thread, one generation at a time; a
    consumer that stops iterating (a client gone) stops the generation at the next token."""

    def __init__(self, model: Union[str, Path, Any], *, n_ctx: int = 4096, verbose: bool = False, **llama_kwargs: Any):
        self.engine = Engine(model, n_ctx=n_ctx, verbose=verbose, **llama_kwargs)
        self.llama = self.engine.llama
        self.name = Path(str(model)).name if isinstance(model, (str, Path)) else "llama"
        metadata = getattr(self.llama, "metadata", {}) or {}
        templates = {
            "default": metadata.get("tokenizer.chat_template"),
            "tool_use": metadata.get("tokenizer.chat_template.tool_use"),
        }
        self.chat_templates = {k: v for k, v in templates.items() if v}
        self.bos_token = self._token_text(self.llama.token_bos())
        self.eos_token = self._token_text(self.llama.token_eos())
        self.control_texts = control_texts(self.llama, self.chat_templates.values())
        self.lock = threading.Lock()

    def _token_text(self, token: Optional[int]) -> str:
        if token is None or token < 0:
            return ""
        return self.llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    def control_texts_for(self, templates: Iterable[str], markers: Iterable[str]) -> frozenset[str]:
        return control_texts(self.llama, [*templates, *markers])

    def single_token(self, text: str) -> Optional[int]:
        tokens = self.engine.vocab.tokenize(text, special=True)
        return tokens[0] if len(tokens) == 1 else None

    def check_grammar(self, gbnf: str) -> None:
        validate_gbnf(gbnf, vocab=self.engine.vocab)

    def tokenize(self, parts: Parts) -> list[int]:
        return self.engine.tokenize_prompt(parts)

    # `preserve` (marker texts a llama-server must keep) means nothing here: the engine's text
    # always has every special token
    def generate(self, prompt_tokens: list[int], *, preserve: Sequence[str] = (), **options: Any) -> Iterator[GenEvent]:
        return self.engine.generate(prompt_tokens, **options)

    async def agenerate(self, prompt_tokens: list[int], *, preserve: Sequence[str] = (), **options: Any) -> AsyncIterator[GenEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone (shutdown): nobody is listening
                stop.set()

        def work() -> None:
            try:
                with self.lock:
                    if stop.is_set():
                        return
                    for event in self.engine.generate(prompt_tokens, cancelled=stop.is_set, **options):
                        put(event)
            except BaseException as exc:  # handed to the consumer, raised there
                put(exc)
            finally:
                put(done)

        thread = threading.Thread(target=work, name="chatformats-generate", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()  # the consumer left early (client gone, error): end the generation
