"""A llama-server as the decoding engine: chatformats renders, constrains and parses; it decodes.

Only llama-server's non-chat endpoints are used: /completion (the prompt as token ids, GBNF, lazy
triggers, stops, sampling, cache_prompt, streaming), /tokenize (client text without special-token
parsing, so the forgery guarantee holds remotely), /props (chat templates, BOS/EOS, slots) and
/health. Its own chat templates and tool-call parsers are never involved.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from pathlib import PurePosixPath
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import httpx

from .backend import Backend, Parts
from .engine import GenEvent
from .gbnf import token_references

# llama.cpp's common_grammar_trigger_type
_TRIGGER_TYPES = {"tokens": 0, "words": 1, "patterns": 2, "patterns_full": 3}
_STOP_TYPES = {"eos": "stop", "word": "stop", "limit": "length"}
# Texts in a chat template that look like special tokens: <|...|>, <｜...｜>, <...>, [UPPER_CASE]
_TOKEN_LIKE = re.compile(r"<[|｜][^<>\s]{1,60}?[|｜]>|</?[A-Za-z_][\w.-]{0,40}>|\[/?[A-Z][A-Z_]{1,30}\]")


class BackendError(RuntimeError):
    """A backend failed. `started`: it had already produced output (a retry would repeat it);
    `status`: the HTTP status, when it answered (4xx: the request itself is wrong)."""

    def __init__(self, message: str, *, started: bool = False, status: Optional[int] = None):
        super().__init__(message)
        self.started = started
        self.status = status

    @property
    def retryable(self) -> bool:
        return not self.started and (self.status is None or self.status >= 500)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        error = data.get("error", data)
        return error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except ValueError:
        return response.text[:200]


class LlamaServerBackend(Backend):
    """One llama-server, by URL (`http://host:8080`)."""

    def __init__(self, url: str, *, timeout: float = 600.0, connect_timeout: float = 5.0):
        self.url = url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.client = httpx.Client(base_url=self.url, timeout=self._timeout)
        self._aclients: dict[int, httpx.AsyncClient] = {}
        self._tokens: "OrderedDict[tuple[str, bool], list[int]]" = OrderedDict()
        self._lock = threading.Lock()
        props = self._request("GET", "/props")
        self.props = props
        templates = {"default": props.get("chat_template"), "tool_use": props.get("chat_template_tool_use")}
        self.chat_templates = {k: v for k, v in templates.items() if v}
        self.bos_token = props.get("bos_token") or ""
        self.eos_token = props.get("eos_token") or ""
        self.slots = int(props.get("total_slots") or 1)
        self.name = PurePosixPath(props.get("model_alias") or props.get("model_path") or "llama-server").name
        self.control_texts = self._find_control_texts(self.chat_templates.values())

    def __repr__(self) -> str:
        return f"LlamaServerBackend({self.url!r})"

    # -- plain requests ---------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer; BackendError when the server cannot be reached or answers an error."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendError(f"llama-server at {self.url}: {exc}") from None
        if response.status_code != 200:
            raise BackendError(f"llama-server at {self.url}{path}: {_error_text(response)}", status=response.status_code)
        return response.json()

    def _tokenize(self, text: str, special: bool) -> list[int]:
        key = (text, special)
        with self._lock:
            hit = self._tokens.get(key)
        if hit is not None:
            return hit
        answer = self._request("POST", "/tokenize", json={"content": text, "add_special": False, "parse_special": special})
        tokens = [t if isinstance(t, int) else t["id"] for t in answer["tokens"]]
        if len(text) <= 64:  # markers and protected pieces repeat: keep them
            with self._lock:
                self._tokens[key] = tokens
                if len(self._tokens) > 4096:
                    self._tokens.popitem(last=False)
        return tokens

    def healthy(self) -> bool:
        try:
            return self.client.get("/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    async def ahealthy(self) -> bool:
        try:
            return (await self._aclient().get("/health", timeout=2.0)).status_code == 200
        except httpx.HTTPError:
            return False

    def control_texts_for(self, templates: Iterable[str], markers: Iterable[str]) -> frozenset[str]:
        return self.control_texts | self._find_control_texts(templates, markers)

    def _find_control_texts(self, templates: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
        """Texts in the templates (and in `extra`: a format's markers) that the vocabulary holds
        as one special token."""
        found = set()
        candidates = {self.bos_token, self.eos_token}
        for text in extra:
            candidates.update([text.strip(), *_TOKEN_LIKE.findall(text)])
        for template in templates:
            candidates.update(_TOKEN_LIKE.findall(template))
        for text in filter(None, candidates):
            if self.single_token(text) is not None:
                found.add(text)
        return frozenset(found)

    # -- Backend ----------------------------------------------------------------------------

    def single_token(self, text: str) -> Optional[int]:
        ids = self._tokenize(text, True)
        return ids[0] if len(ids) == 1 and self._tokenize(text, False) != ids else None

    def specialize(self, gbnf: str) -> str:
        # llama-server's GBNF engine would also accept a marker spelled with ordinary tokens; the
        # in-process engine asks for the special token (lark.py): name it by id here too
        return token_references(gbnf, self.single_token, _TOKEN_LIKE)

    def tokenize(self, parts: Parts) -> list[int]:
        tokens: list[int] = []
        for text, special in parts:
            if text:
                tokens += self._tokenize(text, special)
        return tokens

    def completion_body(
        self,
        prompt_tokens: list[int],
        *,
        grammar: Optional[str] = None,
        lazy: bool = False,
        trigger_words: Iterable[str] = (),
        trigger_tokens: Iterable[Any] = (),
        trigger_patterns: Iterable[str] = (),
        trigger_patterns_full: Iterable[str] = (),
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        seed: Optional[int] = None,
        stop: Iterable[str] = (),
        logit_bias: Optional[Mapping[int, float]] = None,
        bias_steps: Optional[int] = None,
        preserve: Sequence[str] = (),
        stream: bool = True,
    ) -> dict[str, Any]:
        """The /completion body for these options (the same options as Engine.generate)."""
        if bias_steps is not None:
            raise ValueError("logit_bias_steps is not supported by a llama-server backend")
        body: dict[str, Any] = {
            "prompt": list(prompt_tokens),  # token ids: no BOS added, no special parsing
            "n_predict": max_tokens,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "min_p": 0.0,
            "samplers": ["top_k", "top_p", "temperature"],  # as the in-process engine samples
            "stop": list(stop),
            "stream": stream,
            "cache_prompt": True,
            "return_tokens": True,
        }
        if seed is not None:
            body["seed"] = seed & 0xFFFFFFFF
        if logit_bias:
            body["logit_bias"] = [[int(t), False if b == float("-inf") else float(b)] for t, b in logit_bias.items()]
        # markers are often several tokens in one string ("<｜tool▁call▁begin｜>function<｜tool▁sep｜>")
        preserved = [
            t for text in (*preserve, *trigger_words) for t in ([text] if len(text) <= 64 else []) + _TOKEN_LIKE.findall(text)
        ]
        if grammar:
            body["grammar"] = grammar
            if lazy:
                triggers = []
                for kind, values in (
                    ("words", trigger_words),
                    ("tokens", trigger_tokens),
                    ("patterns", trigger_patterns),
                    ("patterns_full", trigger_patterns_full),
                ):
                    for value in values:
                        trigger: dict[str, Any] = {"type": _TRIGGER_TYPES[kind], "value": str(value)}
                        if kind == "tokens":
                            token = value if isinstance(value, int) else self.single_token(value)
                            if token is None:
                                raise ValueError(f"trigger token {value!r} is not one token of this model")
                            trigger["token"] = token
                            preserved.append(str(value))
                        triggers.append(trigger)
                body["grammar_lazy"] = True
                body["grammar_triggers"] = triggers
        # special tokens reach the text only when preserved (llama-server drops the others)
        body["preserved_tokens"] = [t for t in dict.fromkeys(preserved) if t]
        return body

    def generate(self, prompt_tokens: list[int], *, cancelled: Optional[Callable[[], bool]] = None, **options: Any) -> Iterator[GenEvent]:
        body = self.completion_body(prompt_tokens, **options)
        return self._generate(body, cancelled)

    def _generate(self, body: dict[str, Any], cancelled: Optional[Callable[[], bool]]) -> Iterator[GenEvent]:
        reader = _StreamReader(self.url)
        try:
            with self.client.stream("POST", "/completion", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise BackendError(f"llama-server at {self.url}: {_error_text(response)}", status=response.status_code)
                for line in response.iter_lines():
                    if cancelled is not None and cancelled():
                        return
                    event = reader.line(line)
                    if event is not None:
                        yield event
                        if event.finish_reason:
                            return
        except httpx.HTTPError as exc:
            raise BackendError(f"llama-server at {self.url}: {exc}", started=reader.started) from None
        raise BackendError(f"llama-server at {self.url} ended the stream early", started=reader.started)

    def _aclient(self) -> httpx.AsyncClient:
        import asyncio

        loop = id(asyncio.get_running_loop())
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = httpx.AsyncClient(base_url=self.url, timeout=self._timeout)
        return client

    async def agenerate(self, prompt_tokens: list[int], **options: Any) -> AsyncIterator[GenEvent]:
        # Always streamed, even for a non-streaming client (bench/bench_server_stream.py: ~5% of
        # llama-server's throughput at 8 clients): llama-server notices a non-streaming client has
        # gone only after 1 s with no result for any request, so under load an abandoned one would
        # decode to its end; a stream ends at the next token.
        options.pop("cancelled", None)  # the consumer closing this generator cancels it
        body = self.completion_body(prompt_tokens, **options)
        reader = _StreamReader(self.url)
        try:
            async with self._aclient().stream("POST", "/completion", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise BackendError(f"llama-server at {self.url}: {_error_text(response)}", status=response.status_code)
                async for line in response.aiter_lines():
                    event = reader.line(line)
                    if event is not None:
                        yield event
                        if event.finish_reason:
                            return
        except httpx.HTTPError as exc:
            raise BackendError(f"llama-server at {self.url}: {exc}", started=reader.started) from None
        raise BackendError(f"llama-server at {self.url} ended the stream early", started=reader.started)

    def close(self) -> None:
        self.client.close()


class _StreamReader:
    """llama-server's server-sent events -> GenEvents."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started = False
        self.counted = 0  # tokens reported so far (a token ending inside a UTF-8 character has no event)

    def line(self, line: str) -> Optional[GenEvent]:
        if line.startswith("error:"):
            raise BackendError(f"llama-server at {self.url}: {line[6:].strip()}", started=self.started)
        if not line.startswith("data:"):
            return None
        data = json.loads(line[5:])
        if "error" in data:
            error = data["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise BackendError(f"llama-server at {self.url}: {message}", started=self.started)
        tokens = data.get("tokens") or []
        text = data.get("content") or ""
        if data.get("stop"):
            timings = data.get("timings") or {}
            predicted = int(timings.get("predicted_n", self.counted + len(tokens)))
            return GenEvent(
                tokens[-1] if tokens else None,
                text,
                _STOP_TYPES.get(data.get("stop_type"), "stop"),
                int(timings.get("prompt_n", 0)),
                int(timings.get("cache_n", 0)),
                n_tokens=max(len(tokens), predicted - self.counted),
            )
        self.started = True
        self.counted += len(tokens)
        return GenEvent(tokens[-1] if tokens else None, text, n_tokens=len(tokens))
