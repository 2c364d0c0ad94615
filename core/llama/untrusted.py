"""Text from users, tools and clients is tokenized without special-token parsing, so typing a
control token's text (`<|python_tag|>`) cannot forge the token."""

from __future__ import annotations

from typing import Any

import llama_cpp


def control_texts(llama) -> frozenset[str]:
    """Texts of the model's control tokens (what a user must not be able to forge)."""
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    texts = set()
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        if llama_cpp.llama_vocab_get_attr(vocab, token) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
            text = llama_cpp.llama_vocab_get_text(vocab, token)
            if text:
                texts.add(text.decode("utf-8", errors="replace"))
    return frozenset(texts)


def untrusted_strings(request: dict[str, Any]) -> list[str]:
    """Text that came from users, tools or clients rather than from the chat template."""
    found = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found += [p.get("text", "") for p in content if isinstance(p, dict)]
        for call in message.get("tool_calls") or []:
            args = call.get("function", {}).get("arguments")
            if isinstance(args, str):
                found.append(args)
    return found


def prompt_parts(prompt: str, untrusted: list[str], control: frozenset[str]) -> list[tuple[str, bool]]:
    """Split the prompt into (text, parse_special) parts.

    Untrusted strings that contain a control token's text are tokenized without special-token
    parsing wherever they occur verbatim in the prompt, so typing `<|python_tag|>` cannot forge it.
    """
    risky = [s for s in untrusted if s and any(c in s for c in control)]
    if not risky:
        return [(prompt, True)]
    spans: list[tuple[int, int]] = []
    for text in risky:
        start = prompt.find(text)
        while start != -1:
            spans.append((start, start + len(text)))
            start = prompt.find(text, start + len(text))
    spans.sort()
    parts: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in spans:
        if start < cursor:
            start = cursor
        if start >= end:
            continue
        if start > cursor:
            parts.append((prompt[cursor:start], True))
        parts.append((prompt[start:end], False))
        cursor = end
    if cursor < len(prompt):
        parts.append((prompt[cursor:], True))
    return parts
