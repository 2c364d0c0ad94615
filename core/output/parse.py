"""Model output -> OpenAI assistant message, driven by the spec's `tool_calls` shape.

The work is done by the resumable scanner (`scanner.Scanner`) that the streaming parser
(`stream.StreamParser`) drives too, so streamed deltas add up to exactly what `parse_output` returns.

Conventions of the returned message:
- ``content``: text outside calls and reasoning; whitespace touching a removed block (reasoning,
  call, content marker) is stripped; separate pieces of content are joined with ``"\\n"``;
  ``None`` when empty and there are tool calls. Content-only output comes back as is.
- ``reasoning_content``: only when the spec has reasoning and some non-blank reasoning was found.
- ``tool_calls[i].function.arguments``: the model's own JSON text of the arguments object (strict
  JSON: no NaN, no Infinity, no number a double cannot hold); a JSON string holding the arguments
  gives the JSON text it holds; raw code and NAME.call(...) bodies are ``json.dumps(value,
  ensure_ascii=False)`` of what they hold. A call counts once complete (its end marker
  included); a section or array that is never closed still gives its complete calls, and the
  rest of it stays content.
- Never raises on model output: anything that is not a well-formed call stays in content.

How the spec is read: `blocks` (one call block) and `scanner` (reasoning, content, openers).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from ..spec import Spec
from .calls import IdFactory
from .scanner import Scanner

log = logging.getLogger(__name__)


def parse_output(
    spec: Spec,
    text: str,
    tools: Optional[list[dict[str, Any]]] = None,
    *,
    in_reasoning: bool = False,
    id_factory: Optional[IdFactory] = None,
    calls: bool = True,
) -> dict[str, Any]:
    """Parse a model's complete output into an OpenAI assistant message (never raises).

    :param spec: the format.
    :param text: the generated text (special tokens included as text).
    :param tools: the request's tools; when given, a call naming another tool stays content.
    :param in_reasoning: the prompt already opened the reasoning block (output starts inside it).
    :param id_factory: call index -> id, for calls whose id is not in the output (default: the
        spec's id style).
    :param calls: False reads no calls: the reply to a `response_format` request (its reasoning
        block, then the JSON reply as content, whatever shape it has).
    :returns: ``{"role": "assistant", "content", "reasoning_content"?, "tool_calls"?}``.
    """
    try:
        scanner = Scanner(spec, tools, in_reasoning, id_factory, calls)
        scanner.feed(text)
        scanner.advance(True)
        scanner.finish()
        return scanner.message()
    except Exception:  # a bug here must not lose the model's output
        log.exception("chatformats: parsing %s output failed; returning it as content", spec.name)
        return {"role": "assistant", "content": text}
