"""OpenAI chat-completion request -> prompt string, driven by a spec's `inputs`.

Chat templates disagree on what they accept (arguments as objects or JSON strings, null or empty
content next to tool calls, a system role or not, 9-character ids...). `prepare_context` validates
the request and applies the spec's polyfills so that the template gets what it wants; the caller's
request itself is never modified.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any, Optional

from .spec import Spec, ToolCalls
from .template import (
    TemplateError,
    compile_expression,
    compile_template,
    strftime_now,
    template_references_tools,
)

__all__ = [
    "RequestError",
    "choose_template",
    "prepare_context",
    "render_prompt",
    "validate_request",
]

ROLES = ("system", "developer", "user", "assistant", "tool")
TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})
TOOL_SHAPE = '{"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}'
TOOL_CHOICE_SHAPE = '"auto", "none", "required" or {"type": "function", "function": {"name": ...}}'
_ALNUM9 = re.compile(r"[A-Za-z0-9]{9}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PROBE = "PROBE"


class RequestError(ValueError):
    """The request is not a valid OpenAI chat-completion request; the message says how to fix it."""


# --------------------------------------------------------------------------------------------
# Validation of the request's top-level fields
# --------------------------------------------------------------------------------------------


def _text_content(content: Any, where: str) -> Optional[str]:
    """A message's content as a string: text parts are joined with newlines (llama.cpp does too)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(
                part.get("text"), str
            ):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RequestError(
                    f'{where}.content: only text parts {{"type": "text", "text": "..."}} are '
                    f"supported, got {kind!r}"
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise RequestError(
        f"{where}.content must be a string, a list of text parts or null, "
        f"not {type(content).__name__}"
    )


def _parse_arguments(arguments: Any, where: str) -> dict[str, Any]:
    """Tool-call arguments (JSON string, or a mapping) as a dict; RequestError when invalid."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str):
        raise RequestError(
            f"{where}.function.arguments must be a JSON string such as '{{\"a\": 1}}', "
            f"not {type(arguments).__name__}"
        )
    if not arguments.strip():
        return {}  # some clients send "" for a call without arguments
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"{where}.function.arguments is not valid JSON ({exc.msg} at char {exc.pos}): "
            f"{arguments[:80]!r}"
        ) from None
    if not isinstance(value, dict):
        raise RequestError(
            f"{where}.function.arguments must encode a JSON object, got {type(value).__name__}"
        )
    return value


def _validate_tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise RequestError(f"tools must be a list of {TOOL_SHAPE}, not {type(tools).__name__}")
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise RequestError(f"tools[{i}] must be {TOOL_SHAPE}")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise RequestError(f"tools[{i}].function must be an object: {TOOL_SHAPE}")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise RequestError(f"tools[{i}].function.name must be a non-empty string")
        if name in seen:
            raise RequestError(f"tools[{i}]: duplicate tool name {name!r}")
        seen.add(name)
        if not isinstance(function.get("description", ""), (str, type(None))):
            raise RequestError(f"tools[{i}].function.description must be a string")
        if not isinstance(function.get("parameters", {}), (dict, type(None))):
            raise RequestError(f"tools[{i}].function.parameters must be a JSON Schema object")
    return tools


def _validate_tool_choice(tool_choice: Any, tool_names: list[str]) -> Any:
    if tool_choice is None:
        return "auto"
    if isinstance(tool_choice, str):
        if tool_choice not in TOOL_CHOICE_MODES:
            raise RequestError(f"tool_choice must be {TOOL_CHOICE_SHAPE}, got {tool_choice!r}")
        if tool_choice == "required" and not tool_names:
            raise RequestError("tool_choice 'required' needs a non-empty tools list")
        return tool_choice
    name = None
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise RequestError(f"tool_choice must be {TOOL_CHOICE_SHAPE}, got {json.dumps(tool_choice, default=str)}")
    if name not in tool_names:
        known = ", ".join(tool_names) or "none"
        raise RequestError(f"tool_choice names tool {name!r}, which is not in tools (known: {known})")
    return tool_choice


def _validate_parallel(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise RequestError(f"parallel_tool_calls must be true or false, got {json.dumps(value, default=str)}")
    return value


def _template_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools with `description` and `parameters` always present: OpenAI makes both optional,
    but Hermes, Functionary v3.1 and Command R templates read them unconditionally."""
    out = []
    for tool in tools:
        function = tool["function"]
        if function.get("description") is not None and function.get("parameters") is not None:
            out.append(tool)
            continue
        filled = {
            "name": function["name"],
            "description": function.get("description") or "",
            "parameters": function.get("parameters") or {"type": "object", "properties": {}},
            **{k: v for k, v in function.items() if k not in ("name", "description", "parameters")},
        }
        out.append({**tool, "function": filled})
    return out


# --------------------------------------------------------------------------------------------
# Tool-call ids
# --------------------------------------------------------------------------------------------


def _alnum9(original: str, salt: int = 0) -> str:
    """9 base-62 characters derived from a hash: deterministic, so prompts stay cacheable."""
    digest = hashlib.sha256(f"{salt}:{original}".encode()).digest()
    number = int.from_bytes(digest[:12], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


class _IdMapper:
    """Rewrites tool-call ids to the spec's style, consistently across calls and results."""

    def __init__(self, style: str):
        self.style = style
        self.global_map: dict[str, str] = {}
        self.used: set[str] = set()
        self.current: dict[str, str] = {}  # ids of the latest assistant message's calls

    def start_message(self) -> None:
        self.current = {}

    def for_call(self, original: str, index: int) -> str:
        if self.style == "index":
            new = str(index)  # the model numbers the calls of each message from 0
        elif self.style == "alnum9":
            new = self._alnum9(original)
        else:
            new = original
        self.current[original] = new
        self.global_map.setdefault(original, new)
        return new

    def for_result(self, original: str) -> str:
        if original in self.current:
            return self.current[original]
        if original in self.global_map:
            return self.global_map[original]
        return self._alnum9(original) if self.style == "alnum9" else original

    def _alnum9(self, original: str) -> str:
        if original in self.global_map:
            return self.global_map[original]
        if _ALNUM9.fullmatch(original) and original not in self.used:
            new = original
        else:
            salt = 0
            new = _alnum9(original)
            while new in self.used:  # two ids hashing alike: vanishingly rare, still handled
                salt += 1
                new = _alnum9(original, salt)
        self.used.add(new)
        self.global_map[original] = new
        return new


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def _raw_argument(spec: Spec, name: str) -> Optional[str]:
    """The argument whose raw text a template writes for `name` (Functionary's python code)."""
    for special in spec.tool_calls.special_tools:
        if special.body == "raw" and name in special.names:
            return special.argument
    return None


def _polyfill_tool_calls(
    spec: Spec,
    message: dict[str, Any],
    where: str,
    ids: _IdMapper,
    counter: list[int],
    as_object: bool,
) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(original id, name, template call, parsed arguments) for each call of `message`."""
    tool_calls = message["tool_calls"]
    if not isinstance(tool_calls, list):
        raise RequestError(f"{where}.tool_calls must be a list of tool calls")
    ids.start_message()
    calls = []
    for j, call in enumerate(tool_calls):
        call_where = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise RequestError(
                f'{call_where} must be {{"id": ..., "type": "function", "function": '
                '{"name": ..., "arguments": "<JSON string>"}}'
            )
        if call.get("type", "function") != "function":
            raise RequestError(f"{call_where}.type must be 'function', got {call.get('type')!r}")
        function = call.get("function")
        if not isinstance(function, dict):
            raise RequestError(
                f'{call_where}.function must be {{"name": ..., "arguments": "<JSON string>"}}'
            )
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise RequestError(f"{call_where}.function.name must be a non-empty string")
        raw = function.get("arguments", "{}")
        parsed = _parse_arguments(raw, call_where)
        raw_key = None if as_object else _raw_argument(spec, name)
        if as_object:
            arguments: Any = parsed
        elif raw_key is not None and isinstance(parsed.get(raw_key), str):
            arguments = parsed[raw_key]  # the template writes the code itself, not JSON
        elif isinstance(raw, str) and raw.strip():
            arguments = raw  # keep the text as the client sent it (prompt-cache friendly)
        else:
            arguments = json.dumps(parsed, ensure_ascii=False)
        call_id = call.get("id")
        if call_id is None:
            call_id = f"call_{counter[0]}"  # clients may omit ids; results then match by order
        elif not isinstance(call_id, str):
            raise RequestError(f"{call_where}.id must be a string")
        counter[0] += 1
        new_call = {k: v for k, v in call.items() if k not in ("id", "type", "function")}
        new_call["id"] = ids.for_call(call_id, j)
        new_call["type"] = "function"
        # `function` keeps name then arguments first: Mistral Nemo prints `function|tojson`.
        new_call["function"] = {
            "name": name,
            "arguments": arguments,
            **{k: v for k, v in function.items() if k not in ("name", "arguments")},
        }
        calls.append((call_id, name, new_call, parsed))
    return calls


def _polyfill_messages(
    spec: Spec, messages: Any, wants: Optional[tuple[str, str]] = None
) -> list[dict[str, Any]]:
    """Validated copies of `messages`, shaped the way `spec.inputs` says the template wants.

    `wants` is (arguments, content_with_tool_calls) after any `auto` was resolved.
    """
    wants = wants or _wants(spec, None)
    if messages is None:
        raise RequestError("messages is required: a list of {role, content} objects")
    if not isinstance(messages, list):
        raise RequestError(f"messages must be a list of {{role, content}} objects, not {type(messages).__name__}")
    if not messages:
        raise RequestError("messages must not be empty: give at least one user message")
    inputs = spec.inputs
    ids = _IdMapper(spec.tool_calls.ids.style)
    counter = [0]
    pending: list[tuple[str, str]] = []  # (original id, name) of calls awaiting a result
    names_by_id: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"{where} must be an object with 'role' and 'content'")
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(f"{where}.role {role!r} is not one of {', '.join(ROLES)}")
        new = dict(message)
        new["content"] = _text_content(message.get("content"), where)
        if role == "developer":
            new["role"] = role = "system"  # OpenAI's newer name for the system role
        if role in ("system", "user") and new["content"] is None:
            raise RequestError(f"{where} ({role}) needs a content string")
        if role == "assistant":
            if inputs.reasoning_field and message.get("reasoning_content") is not None:
                new.setdefault(inputs.reasoning_field, message["reasoning_content"])
            if message.get("tool_calls"):
                calls = _polyfill_tool_calls(
                    spec, message, where, ids, counter, wants[0] == "object"
                )
                new["tool_calls"] = [call for _, _, call, _ in calls]
                pending = [(original, name) for original, name, _, _ in calls]
                names_by_id.update(pending)
                if inputs.tool_calls_in_content:
                    new["content"] = _calls_as_text(spec.tool_calls, new["content"], calls)
                    del new["tool_calls"]
                elif not new["content"]:
                    new["content"] = None if wants[1] == "null" else ""
            else:
                new.pop("tool_calls", None)  # [] or null: a plain answer
                if new["content"] is None:
                    new["content"] = ""
                if inputs.tool_calls_in_content and spec.tool_calls.envelope is not None:
                    new["content"] = json.dumps(
                        {spec.tool_calls.envelope.content_key: new["content"]}, ensure_ascii=False
                    )
        elif role == "tool":
            if new["content"] is None:
                raise RequestError(f"{where} (tool) needs a content string with the tool's result")
            call_id = message.get("tool_call_id")
            if call_id is None:
                if not pending:
                    raise RequestError(
                        f"{where} (tool) needs tool_call_id: the id of the assistant tool call "
                        "it answers"
                    )
                call_id = pending[0][0]
            elif not isinstance(call_id, str):
                raise RequestError(f"{where}.tool_call_id must be a string")
            pending = [p for p in pending if p[0] != call_id]
            new["tool_call_id"] = ids.for_result(call_id)
            name = message.get("name") or names_by_id.get(call_id)
            if name is not None:
                new["name"] = name  # some templates label results by the tool's name
            if inputs.tool_results_as_json:
                new["content"] = json.dumps(
                    {
                        "tool_response": {
                            "id": new["tool_call_id"],
                            "name": name,
                            "content": new["content"],
                        }
                    },
                    ensure_ascii=False,
                )
            new["role"] = inputs.tool_role
        out.append(new)
    return out


def _calls_as_text(
    tc: ToolCalls, content: Optional[str], calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]]
) -> str:
    """An assistant message's calls written in the format's own wire shape (for templates that
    can only show text), after its content."""
    jb = tc.json_body

    def json_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {jb.name_key: name, jb.arguments_key: arguments}
        if jb.id_key:
            obj[jb.id_key] = call_id
        return obj

    objects = [json_call(call["id"], name, args) for _, name, call, args in calls]
    if tc.envelope is not None:
        env = tc.envelope
        body: dict[str, Any] = (
            {env.call_key: objects[0]} if len(objects) == 1 else {env.calls_key: objects}
        )
        if content:
            body[env.content_key] = content
        return json.dumps(body, ensure_ascii=False)
    if tc.array:
        text = tc.section.begin + json.dumps(objects, ensure_ascii=False) + tc.section.end
    else:
        parts = []
        for (_, name, call, args), obj in zip(calls, objects):
            special = next((s for s in tc.special_tools if name in s.names), None)
            if special is not None and special.body == "raw" and isinstance(args.get(special.argument), str):
                parts.append((special.begin or tc.call.begin) + args[special.argument] + special.end)
            elif special is not None and special.body == "python_call":
                kwargs = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
                parts.append(f"{special.begin or ''}{name}.call({kwargs}){special.end}")
            elif tc.body == "name" and tc.name_body is not None:
                arguments = json.dumps(args, ensure_ascii=False)
                parts.append(tc.call.begin + name + tc.name_body.name_suffix + arguments + tc.call.end)
            else:
                parts.append(tc.call.begin + json.dumps(obj, ensure_ascii=False) + tc.call.end)
        text = tc.section.begin + tc.separator.join(parts) + tc.section.end
    return (content or "") + text


def _merge_system_into_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For templates that reject a system role: system text + blank line + next user text."""
    out: list[dict[str, Any]] = []
    held: list[str] = []
    for message in messages:
        if message["role"] == "system":
            held.append(message["content"])
            continue
        if held and message["role"] == "user":
            message = {**message, "content": "\n\n".join(held + [message["content"]])}
            held = []
        out.append(message)
    if held:  # no user message follows: the instructions become one
        out.append({"role": "user", "content": "\n\n".join(held)})
    return out


def _add_system_prompt(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    if messages and messages[0]["role"] == "system":
        first = messages[0]
        merged = f"{text}\n\n{first['content']}" if first["content"] else text
        return [{**first, "content": merged}] + messages[1:]
    return [{"role": "system", "content": text}] + messages


_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "probe_tool",
        "description": "probe",
        "parameters": {"type": "object", "properties": {"probe_arg": {"type": "integer"}}},
    },
}
Variables = tuple[tuple[str, str], ...]  # a spec's inputs.variables, hashable for the caches


def _probe(source: str, variables: Variables, messages: list[dict[str, Any]], tools: Any) -> Optional[str]:
    """Render a probe conversation (with the spec's variables); None when the template fails."""
    context: dict[str, Any] = {
        "messages": messages,
        "tools": tools,
        "add_generation_prompt": True,
        "bos_token": "",
        "eos_token": "",
    }
    scope = {"tools": tools, "messages": messages, "strftime_now": strftime_now, "builtin_tool_names": []}
    try:
        for variable, expression in variables:
            context[variable] = compile_expression(expression, variable)(**scope)
        return compile_template(source, "chat_template").render(**context)
    except TemplateError:
        return None


@functools.lru_cache(maxsize=64)
def template_wants(source: str, variables: Variables = ()) -> tuple[str, str]:
    """(arguments, content_with_tool_calls) a template needs, found by rendering a probe call.

    Templates of one family disagree (vLLM's DeepSeek templates apply |tojson to the arguments
    and test `'</think>' in content`; llama.cpp's concatenate a string and need null content),
    so `auto` in a spec asks the template itself. Probed once per source.
    """
    for content in (None, ""):
        for arguments in ('{"probe_arg": 1}', {"probe_arg": 1}):
            call = {
                "id": "abcdefghi",  # 9 alphanumerics: Mistral Nemo rejects other ids
                "type": "function",
                "function": {"name": "probe_tool", "arguments": arguments},
            }
            messages = [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": content, "tool_calls": [call]},
            ]
            out = _probe(source, variables, messages, [_PROBE_TOOL])
            if out is None:
                continue
            shown = "probe_arg" in out.rpartition("probe_tool")[2]  # the call, not the tool list
            if shown and '\\"probe_arg\\"' not in out:  # and not a double-encoded string
                return (
                    "string" if isinstance(arguments, str) else "object",
                    "null" if content is None else "empty",
                )
    return ("object", "null")


def _wants(spec: Spec, template_source: Optional[str]) -> tuple[str, str]:
    """The spec's (arguments, content_with_tool_calls), with `auto` resolved by a probe."""
    arguments, content = spec.inputs.arguments, spec.inputs.content_with_tool_calls
    if "auto" in (arguments, content):
        probed = ("object", "null")
        if template_source is not None:
            probed = template_wants(template_source, tuple(spec.inputs.variables.items()))
        arguments = probed[0] if arguments == "auto" else arguments
        content = probed[1] if content == "auto" else content
    return arguments, content


@functools.lru_cache(maxsize=64)
def template_drops_system(source: str, variables: Variables = ()) -> bool:
    """Does this template reject or silently drop a system message? (probed once per source)"""
    messages = [{"role": "system", "content": _PROBE}, {"role": "user", "content": "x"}]
    out = _probe(source, variables, messages, None)
    return out is None or _PROBE not in out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def validate_request(request: Any, spec: Optional[Spec] = None) -> dict[str, Any]:
    """Check an OpenAI chat-completion request; return a copy with defaults filled in
    (`tools` None when absent or empty, `tool_choice` "auto", `parallel_tool_calls` True).

    Raises `RequestError` with a message that says what to fix. The messages themselves are
    returned as given (only checked), so the copy is still an OpenAI request.
    """
    if not isinstance(request, dict):
        raise RequestError(f"the request must be a JSON object, not {type(request).__name__}")
    tools = _validate_tools(request.get("tools"))
    tool_choice = _validate_tool_choice(
        request.get("tool_choice"), [t["function"]["name"] for t in tools]
    )
    parallel = _validate_parallel(request.get("parallel_tool_calls"))
    _polyfill_messages(spec or _PLAIN_SPEC, request.get("messages"))
    return {
        **request,
        "tools": tools or None,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel,
    }


def choose_template(spec: Spec, model_template: Optional[str]) -> str:
    """The template to render with: the spec's own or the model's, per `inputs.use_template`.

    Raises `RequestError` when there is none to use.
    """
    own = spec.inputs.template
    mode = spec.inputs.use_template
    if mode == "always":
        if own is None:
            raise RequestError(
                f"format {spec.name!r} says inputs.use_template: always but has no inputs.template"
            )
        return own
    if (
        mode == "when_model_template_lacks_tools"
        and own is not None
        and (model_template is None or not template_references_tools(model_template))
    ):
        return own
    if model_template is None:
        raise RequestError(
            f"no chat template: the model has none and format {spec.name!r} has no "
            "inputs.template; pass a template (chat_template=...) or pick a format that has one"
        )
    return model_template


def prepare_context(
    spec: Spec,
    request: dict[str, Any],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    extra_context: Optional[dict[str, Any]] = None,
    template_source: Optional[str] = None,
) -> dict[str, Any]:
    """Validate `request` and build the template variables, polyfilled per `spec.inputs`.

    `template_source` is only needed for the `auto` inputs (the template is probed once).
    Raises `RequestError` for an invalid request and `TemplateError` when a spec expression fails.
    """
    if not isinstance(request, dict):
        raise RequestError(f"the request must be a JSON object, not {type(request).__name__}")
    request_tools = _validate_tools(request.get("tools"))
    tool_names = [tool["function"]["name"] for tool in request_tools]
    tool_choice = _validate_tool_choice(request.get("tool_choice"), tool_names)
    parallel = _validate_parallel(request.get("parallel_tool_calls"))
    messages = _polyfill_messages(spec, request.get("messages"), _wants(spec, template_source))

    tools = _template_tools(request_tools) if request_tools and tool_choice != "none" else None
    shown_names = tool_names if tools else []

    if tools and spec.system_prompt:
        prompt = compile_template(spec.system_prompt, f"{spec.name}:system_prompt").render(
            tools=tools, parallel=parallel, tool_choice=tool_choice
        )
        messages = _add_system_prompt(messages, prompt)
    system = spec.inputs.system
    if system == "merge_into_first_user" or (
        system == "auto"
        and template_source is not None
        and any(m["role"] == "system" for m in messages)
        and template_drops_system(template_source, tuple(spec.inputs.variables.items()))
    ):
        messages = _merge_system_into_user(messages)

    special_tools = spec.tool_calls.special_tools
    builtin_tool_names = [n for n in shown_names if any(n in s.names for s in special_tools)]
    context: dict[str, Any] = {
        "messages": messages,
        "tools": tools,
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
    }
    for special in special_tools:
        present = [n for n in shown_names if n in special.names]
        # Only when non-empty: Llama 3.1 tests `builtin_tools is defined` and prints "Tools: ".
        if special.render_variable and present:
            context.setdefault(special.render_variable, [])
            context[special.render_variable] += present
    if spec.inputs.variables:
        scope = {
            "tools": tools,
            "messages": messages,
            "strftime_now": strftime_now,
            "builtin_tool_names": builtin_tool_names,
        }
        for variable, expression in spec.inputs.variables.items():
            evaluate = compile_expression(expression, f"{spec.name}:inputs.variables.{variable}")
            context[variable] = evaluate(**scope)
    if extra_context:
        context.update(extra_context)
    return context


def render_prompt(
    spec: Spec,
    request: dict[str, Any],
    template_source: Optional[str],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    extra_context: Optional[dict[str, Any]] = None,
) -> str:
    """Render `request` into the prompt string.

    `template_source` is the model's chat template (or None); `choose_template` decides whether
    the spec's own template replaces it (passing its choice again is harmless: the choice is
    idempotent). Raises `RequestError` (bad request) or `TemplateError` (the template failed).
    """
    source = choose_template(spec, template_source)
    own = source == spec.inputs.template
    template = compile_template(source, f"{spec.name}:inputs.template" if own else "chat_template")
    context = prepare_context(
        spec,
        request,
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
        extra_context=extra_context,
        template_source=source,
    )
    return template.render(**context)


# What `validate_request` checks messages against when no spec is given.
_PLAIN_SPEC = Spec(spec_version=1, name="plain", tool_calls={"anchored": True})
