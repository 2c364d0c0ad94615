"""`chat_handler`: a ChatModel inside llama-cpp-python's own `Llama.create_chat_completion`."""

from __future__ import annotations

from .model import ChatModel


def chat_handler(format: str = "auto", **model_kwargs):
    """A llama-cpp-python chat handler: ``Llama(model_path=..., chat_handler=chat_handler("hermes"))``."""
    models: dict[int, ChatModel] = {}

    def handler(
        *,
        llama,
        messages,
        tools=None,
        tool_choice=None,
        temperature=0.8,
        top_p=0.95,
        top_k=40,
        stream=False,
        stop=None,
        seed=None,
        max_tokens=None,
        logit_bias=None,
        functions=None,
        function_call=None,
        **_ignored,
    ):
        model = models.get(id(llama))
        if model is None:
            model = models[id(llama)] = ChatModel(llama, format, **model_kwargs)
        if tools is None and functions:
            tools = [{"type": "function", "function": f} for f in functions]
        if isinstance(stop, str):
            stop = [stop]
        bias = {int(k): float(v) for k, v in (logit_bias or {}).items()} or None
        return model.chat(
            messages,
            tools=tools,
            tool_choice=tool_choice or "auto",
            stream=stream,
            max_tokens=max_tokens or 512,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed,
            stop=stop,
            logit_bias=bias,
        )

    return handler
