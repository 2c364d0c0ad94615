"""ChatModel: a format run on llama.cpp in process (render -> lazy grammar -> generate -> parse)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from ..hooks import Detection, Format, Registry, api, detect_template, get_registry
from ..prompt import validate_request
from ..spec.shape import opens_reasoning
from .engine import Engine
from .gbnf import validate_gbnf
from .untrusted import control_texts, prompt_parts, untrusted_strings


@dataclass
class Prepared:
    """Everything decided before the first token: prompt, grammar plan, stops."""

    request: dict[str, Any]
    prompt: str
    prompt_tokens: list[int]
    plan: Any
    stop: list[str]
    in_reasoning: bool
    tools: Optional[list[dict[str, Any]]]
    timings: dict[str, float] = field(default_factory=dict)


class ChatModel:
    """A GGUF model (or a `llama_cpp.Llama`) speaking one tool-calling format.

    ``format="auto"`` detects the format from the GGUF's chat template (its ``tool_use`` variant when
    present); ``self.detection`` says what was chosen and why.
    """

    def __init__(
        self,
        model: Union[str, Path, Any],
        format: str = "auto",
        *,
        template: Optional[str] = None,
        registry: Optional[Registry] = None,
        n_ctx: int = 4096,
        verbose: bool = False,
    ):
        self.registry = registry or get_registry()
        self.engine = Engine(model, n_ctx=n_ctx, verbose=verbose) if isinstance(model, (str, Path)) else Engine(model)
        self.llama = self.engine.llama
        self.model_name = Path(str(model)).name if isinstance(model, (str, Path)) else "llama"
        metadata = getattr(self.llama, "metadata", {}) or {}
        self.template = template or metadata.get("tokenizer.chat_template.tool_use") or metadata.get(
            "tokenizer.chat_template"
        )
        if format == "auto":
            if self.template:
                self.detection = detect_template(self.template, self.registry)
            else:
                self.detection = Detection("generic", "the model has no chat template")
        else:
            self.detection = Detection(format, "chosen by the caller")
        self.format: Format = self.registry.get(self.detection.format)
        self.bos_token = self._token_text(self.llama.token_bos())
        self.eos_token = self._token_text(self.llama.token_eos())
        self._control = control_texts(self.llama)

    def single_token(self, text: str) -> Optional[int]:
        """The id of `text` when the vocabulary has it as one (special) token, else None."""
        tokens = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tokens[0] if len(tokens) == 1 else None

    def _token_text(self, token: int) -> str:
        if token is None or token < 0:
            return ""
        return self.llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    # -- preparation ------------------------------------------------------------

    def prepare(
        self,
        messages: list[dict[str, Any]],
        tools: Optional[list[dict[str, Any]]] = None,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        stop: Optional[list[str]] = None,
    ) -> Prepared:
        """Validate, render and plan a request; raises RequestError on bad input."""
        request = {
            "messages": messages,
            "tools": tools or None,
            "tool_choice": tool_choice,
            "parallel_tool_calls": parallel_tool_calls,
        }
        request = validate_request(request, self.format.spec)
        timings = {}
        t0 = time.perf_counter()
        prompt = api.render(
            self.format,
            request,
            self.template,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            registry=self.registry,
        )
        t1 = time.perf_counter()
        in_reasoning = opens_reasoning(self.format.spec, prompt)
        active_tools = request["tools"] if request["tool_choice"] != "none" else None
        # Checked here with the model's own vocabulary (the engine finds it checked), so a bad
        # grammar is a request error before generation starts.
        plan = api.plan_request(
            self.format, request, in_reasoning=in_reasoning, registry=self.registry, validate=False
        )
        if plan is not None:
            validate_gbnf(plan.gbnf, vocab=self.engine.vocab)
        t2 = time.perf_counter()
        parts = prompt_parts(prompt, untrusted_strings(request), self._control)
        tokens = self.engine.tokenize_prompt(parts)
        t3 = time.perf_counter()
        timings.update(render_ms=(t1 - t0) * 1e3, grammar_ms=(t2 - t1) * 1e3, tokenize_ms=(t3 - t2) * 1e3)
        spec = self.format.spec
        stops = list(spec.stop)
        for special in spec.tool_calls.special_tools:
            stops += [s for s in special.stop if s not in stops]
        stops += [s for s in (stop or []) if s not in stops]
        return Prepared(
            request=request,
            prompt=prompt,
            prompt_tokens=tokens,
            plan=plan,
            stop=stops,
            in_reasoning=in_reasoning,
            tools=active_tools,
            timings=timings,
        )

    # -- generation ---------------------------------------------------------------

    def chat(
        self,
        messages: list[dict[str, Any]],
        tools: Optional[list[dict[str, Any]]] = None,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        stream: bool = False,
        max_tokens: int = 512,
        temperature: float = 0.8,
        top_p: float = 0.95,
        top_k: int = 40,
        seed: Optional[int] = None,
        stop: Optional[list[str]] = None,
        logit_bias: Optional[dict[int, float]] = None,
        logit_bias_steps: Optional[int] = None,
    ) -> Union[dict[str, Any], Iterator[dict[str, Any]]]:
        """An OpenAI `chat.completion` dict, or an iterator of `chat.completion.chunk` dicts."""
        prepared = self.prepare(messages, tools, tool_choice, parallel_tool_calls, stop)
        return self.run(
            prepared,
            stream=stream,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed,
            logit_bias=logit_bias,
            logit_bias_steps=logit_bias_steps,
        )

    def run(self, prepared: Prepared, *, stream: bool = False, **sampling):
        """Generate for an already prepared request (see `prepare`)."""
        sampling.setdefault("logit_bias_steps", None)
        events = self._generate(prepared, **sampling)
        if stream:
            return self._stream(prepared, events)
        return self._complete(prepared, events)

    def _generate(self, prepared: Prepared, **sampling):
        plan = prepared.plan
        return self.engine.generate(
            prepared.prompt_tokens,
            grammar=plan.gbnf if plan else None,
            lazy=plan.lazy if plan else False,
            trigger_words=plan.words if plan else (),
            trigger_tokens=plan.tokens if plan else (),
            trigger_patterns=plan.patterns if plan else (),
            trigger_patterns_full=plan.patterns_full if plan else (),
            stop=prepared.stop,
            bias_steps=sampling.pop("logit_bias_steps"),
            **sampling,
        )

    def _usage(self, n_completion: int) -> dict[str, Any]:
        evaluated = getattr(self.engine, "n_prompt_evaluated", 0)
        reused = getattr(self.engine, "n_prompt_reused", 0)
        return {
            "prompt_tokens": evaluated + reused,
            "completion_tokens": n_completion,
            "total_tokens": evaluated + reused + n_completion,
            "prompt_tokens_details": {"cached_tokens": reused},
            "prompt_tokens_evaluated": evaluated,
        }

    def _finish_reason(self, engine_reason: str, message: dict[str, Any]) -> str:
        if engine_reason == "length":
            return "length"
        return "tool_calls" if message.get("tool_calls") else "stop"

    def _complete(self, prepared: Prepared, events) -> dict[str, Any]:
        pieces: list[str] = []
        n_tokens = 0
        reason = "stop"
        for event in events:
            if event.text:
                pieces.append(event.text)
            if event.token is not None:
                n_tokens += 1
            if event.finish_reason:
                reason = event.finish_reason
        text = "".join(pieces)
        plan = prepared.plan
        message = api.parse(
            self.format, text, prepared.tools, in_reasoning=prepared.in_reasoning, registry=self.registry
        )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [
                {"index": 0, "message": message, "finish_reason": self._finish_reason(reason, message)}
            ],
            "usage": self._usage(n_tokens),
            "chatformats": {
                "format": self.format.name,
                "raw_output": text,
                "grammar": None if plan is None else ("lazy" if plan.lazy else "from the first token"),
                "triggers": plan.triggers_dict() if plan is not None and plan.lazy else None,
                **prepared.timings,
            },
        }

    def _stream(self, prepared: Prepared, events) -> Iterator[dict[str, Any]]:
        parser = api.stream_parser(
            self.format, prepared.tools, in_reasoning=prepared.in_reasoning, registry=self.registry
        )
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model_name,
        }

        def chunk(delta, finish_reason=None, **extra):
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}

        yield chunk({"role": "assistant", "content": ""})
        n_tokens = 0
        reason = "stop"
        for event in events:
            if event.token is not None:
                n_tokens += 1
            if event.finish_reason:
                reason = event.finish_reason
            if event.text:
                for delta in parser.feed(event.text):
                    yield chunk(delta)
        deltas, message = parser.finish()
        for delta in deltas:
            yield chunk(delta)
        yield chunk({}, self._finish_reason(reason, message), usage=self._usage(n_tokens))
