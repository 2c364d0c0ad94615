"""ChatModel: a format run on a decoding backend (render -> grammar -> generate -> parse).

The backend is llama.cpp in process (a GGUF path or a `llama_cpp.Llama`) or a llama-server (a URL
or a `LlamaServerBackend`); everything but decoding happens here, the same way for both.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from ..hooks import Detection, Format, Registry, api, detect_template, get_registry
from ..output import StreamParser, parse_output
from ..prompt import tools_in_play, validate_request
from ..prompt.protect import protect_request
from ..spec.shape import opens_reasoning
from .backend import Backend, LocalBackend
from .chunks import ChunkStream, Usage, completion


class ModelError(ValueError):
    """The model cannot be used as asked (e.g. it has no chat template and the format none)."""


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
    preserve: list[str] = field(default_factory=list)  # marker texts a backend must keep in the text
    reply_format: Optional[dict[str, Any]] = None  # the request's response_format: no calls are read

    def generation_options(self) -> dict[str, Any]:
        """Engine.generate's grammar/trigger/stop options for this request."""
        plan = self.plan
        return {
            "grammar": plan.gbnf if plan else None,
            "lazy": plan.lazy if plan else False,
            "trigger_words": plan.words if plan else (),
            "trigger_tokens": plan.tokens if plan else (),
            "trigger_patterns": plan.patterns if plan else (),
            "trigger_patterns_full": plan.patterns_full if plan else (),
            "stop": self.stop,
        }


def _is_url(model: Any) -> bool:
    return isinstance(model, str) and model.startswith(("http://", "https://"))


def make_backend(model: Union[str, Path, Any, Backend], **llama_kwargs: Any) -> Backend:
    """A Backend for a GGUF path, a `llama_cpp.Llama`, a llama-server URL, or a Backend."""
    if isinstance(model, Backend):
        return model
    if _is_url(model):
        from .remote import LlamaServerBackend

        return LlamaServerBackend(model)
    if isinstance(model, (str, Path)) and not Path(model).is_file():
        raise ModelError(f"model file not found: {model}")
    return LocalBackend(model, **llama_kwargs)


def _marker_texts(format: Format) -> list[str]:
    """Every marker of the format: a llama-server backend keeps these special tokens as text."""
    spec = format.spec
    tc = spec.tool_calls
    texts = [tc.section.begin, tc.section.end, tc.call.begin, tc.call.end, tc.separator, tc.content.begin, tc.content.end]
    texts += [m for s in tc.special_tools for m in (s.begin or "", s.end, *s.stop)]
    if spec.reasoning is not None:
        texts += [spec.reasoning.begin, spec.reasoning.end]
    texts += spec.stop
    return [t.strip() for t in dict.fromkeys(texts) if t and t.strip()]


class ChatModel:
    """A model speaking one tool-calling format.

    :param model: a GGUF path or a `llama_cpp.Llama` (in process), a llama-server URL
        (`http://host:8080`), or a Backend.
    :param format: a format name, or "auto": detected from the model's chat template (its
        `tool_use` variant when it has one); `self.detection` says what was chosen and why.
    :param template: a chat template (Jinja source) to use instead of the model's own; needed
        for a GGUF without one (Gemma-3-270M) unless the format has a template of its own.
    :param llama_kwargs: for a GGUF path, passed to `llama_cpp.Llama` (`n_gpu_layers`,
        `n_threads`, `n_batch`, ...); threads default to every core, as llama-server's do.
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
        **llama_kwargs: Any,
    ):
        self.registry = registry or get_registry()
        self.backend = make_backend(model, n_ctx=n_ctx, verbose=verbose, **llama_kwargs)
        self.model_name = self.backend.name
        templates = dict(self.backend.chat_templates)
        if template is not None:
            templates = {"default": template}
        self.templates = templates
        self.template = templates.get("tool_use") or templates.get("default")  # what detection read
        if format == "auto":
            if self.template:
                self.detection = detect_template(self.template, self.registry)
            else:
                self.detection = Detection("generic", "the model has no chat template")
        else:
            self.detection = Detection(format, "chosen by the caller")
        self.format: Format = self.registry.get(self.detection.format)
        if not self.template and self.format.spec.inputs.template is None:
            raise ModelError(
                f"{self.model_name} has no chat template and format {self.format.name!r} has none of "
                "its own: pass one (template=... in Python, --template FILE on the command line)"
            )
        self.bos_token = self.backend.bos_token
        self.eos_token = self.backend.eos_token
        self._preserve = _marker_texts(self.format)
        # special tokens the template used and the format's markers name are protected too
        self._control = self.backend.control_texts_for(list(self.templates.values()), self._preserve)

    # the in-process backend's llama.cpp objects, for code that drives them directly
    @property
    def engine(self) -> Any:
        return getattr(self.backend, "engine", None)

    @property
    def llama(self) -> Any:
        return getattr(self.backend, "llama", None)

    def single_token(self, text: str) -> Optional[int]:
        """The id of `text` when the vocabulary has it as one (special) token, else None."""
        return self.backend.single_token(text)

    def template_for(self, request: dict[str, Any]) -> Optional[str]:
        """The model's `tool_use` template only when the request offers tools (Hermes and
        Command R+ templates raise on plain chats), else its default one."""
        if tools_in_play(request) and "tool_use" in self.templates:
            return self.templates["tool_use"]
        return self.templates.get("default") or self.templates.get("tool_use")

    # -- preparation ------------------------------------------------------------

    def prepare(
        self,
        messages: list[dict[str, Any]],
        tools: Optional[list[dict[str, Any]]] = None,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        stop: Optional[list[str]] = None,
        response_format: Optional[dict[str, Any]] = None,
    ) -> Prepared:
        """Validate, render and plan a request; raises RequestError on bad input."""
        request = {
            "messages": messages,
            "tools": tools or None,
            "tool_choice": tool_choice,
            "parallel_tool_calls": parallel_tool_calls,
        }
        if response_format is not None:
            request["response_format"] = response_format
        request = validate_request(request, self.format.spec)
        timings = {}
        t0 = time.perf_counter()
        # client text is protected before rendering, so no template transform can forge a token
        protection = protect_request(request, self._control)
        rendered = api.render(
            self.format,
            protection.request,
            self.template_for(request),
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            registry=self.registry,
        )
        prompt = protection.restore(rendered)
        t1 = time.perf_counter()
        in_reasoning = opens_reasoning(self.format.spec, prompt)
        active_tools = request["tools"] if request["tool_choice"] != "none" else None
        # Checked here by the backend's grammar engine, so a bad grammar is a request error
        # before generation starts (the in-process engine then finds it checked).
        plan = api.plan_request(
            self.format, request, in_reasoning=in_reasoning, registry=self.registry, validate=False
        )
        preserve = self._preserve
        if plan is not None:
            preserve = preserve + [plan.gbnf]  # its literals hold the markers a plugin's grammar writes
            specialized = self.backend.specialize(plan.gbnf)
            if specialized != plan.gbnf:
                plan = dataclasses.replace(plan, gbnf=specialized)
            self.backend.check_grammar(plan.gbnf)
        t2 = time.perf_counter()
        tokens = self.backend.tokenize(protection.parts(rendered))
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
            preserve=preserve,
            reply_format=request.get("response_format"),
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
        stream_options: Optional[dict[str, Any]] = None,
        response_format: Optional[dict[str, Any]] = None,
    ) -> Union[dict[str, Any], Iterator[dict[str, Any]]]:
        """An OpenAI `chat.completion` dict, or an iterator of `chat.completion.chunk` dicts."""
        prepared = self.prepare(messages, tools, tool_choice, parallel_tool_calls, stop, response_format)
        return self.run(
            prepared,
            stream=stream,
            stream_options=stream_options,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed,
            logit_bias=logit_bias,
            logit_bias_steps=logit_bias_steps,
        )

    def run(self, prepared: Prepared, *, stream: bool = False, stream_options: Optional[dict[str, Any]] = None, **sampling):
        """Generate for an already prepared request (see `prepare`)."""
        events = self.backend.generate(prepared.prompt_tokens, **self.options(prepared, sampling))
        if stream:
            include_usage = bool((stream_options or {}).get("include_usage"))
            return self._stream(self.chunk_stream(prepared, include_usage), events)
        return self._complete(prepared, events)

    def options(self, prepared: Prepared, sampling: dict[str, Any]) -> dict[str, Any]:
        """The backend's generate() options: the prepared grammar and stops plus sampling."""
        sampling = dict(sampling)
        sampling["bias_steps"] = sampling.pop("logit_bias_steps", None)
        return {**prepared.generation_options(), "preserve": prepared.preserve, **sampling}

    def parse(self, prepared: Prepared, text: str) -> dict[str, Any]:
        if prepared.reply_format is not None:  # the reply is the JSON the format asked for, not a call
            return parse_output(self.format.spec, text, in_reasoning=prepared.in_reasoning, calls=False)
        return api.parse(self.format, text, prepared.tools, in_reasoning=prepared.in_reasoning, registry=self.registry)

    def info(self, prepared: Prepared, text: Optional[str] = None) -> dict[str, Any]:
        """The `chatformats` block of an answer: format, raw output, grammar, timings."""
        plan = prepared.plan
        info: dict[str, Any] = {"format": self.format.name}
        if text is not None:
            info["raw_output"] = text
        info["grammar"] = None if plan is None else ("lazy" if plan.lazy else "from the first token")
        info["triggers"] = plan.triggers_dict() if plan is not None and plan.lazy else None
        if plan is not None and plan.warnings:  # schema keywords the grammar does not enforce
            info["warnings"] = list(plan.warnings)
        info.update(prepared.timings)
        return info

    def _complete(self, prepared: Prepared, events) -> dict[str, Any]:
        usage = Usage()
        pieces: list[str] = []
        for event in events:
            usage.add(event)
            if event.text:
                pieces.append(event.text)
        text = "".join(pieces)
        return completion(self.parse(prepared, text), usage, self.model_name, self.info(prepared, text))

    def chunk_stream(self, prepared: Prepared, include_usage: bool = False) -> ChunkStream:
        if prepared.reply_format is not None:
            parser: Any = StreamParser(self.format.spec, in_reasoning=prepared.in_reasoning, calls=False)
        else:
            parser = api.stream_parser(
                self.format, prepared.tools, in_reasoning=prepared.in_reasoning, registry=self.registry
            )
        extra = {"warnings": list(prepared.plan.warnings)} if prepared.plan is not None and prepared.plan.warnings else None
        return ChunkStream(parser, self.model_name, include_usage=include_usage, extra=extra)

    def _stream(self, chunks: ChunkStream, events) -> Iterator[dict[str, Any]]:
        yield from chunks.start()
        for event in events:
            yield from chunks.feed(event)
        yield from chunks.finish()
