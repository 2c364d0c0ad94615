"""Validation of an OpenAI chat-completion request, done once.

`validate_request` checks every field a prompt is made from and returns a `ValidRequest`: the
request with defaults filled in, plus its messages read into `CheckedMessage`s. Rendering trusts a
`ValidRequest` it is given (it validates anything else itself), so a request that passes through
the runtime is checked exactly once. Every problem is a `RequestError` whose message says what
to fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

ROLES = ("system", "developer", "user", "assistant", "tool")
TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})
TOOL_SHAPE = '{"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}'
TOOL_CHOICE_SHAPE = '"auto", "none", "required" or {"type": "function", "function": {"name": ...}}'


class RequestError(ValueError):
    """The request is not a valid OpenAI chat-completion request; the message says how to fix it."""


# --------------------------------------------------------------------------------------------
# Top-level fields
# --------------------------------------------------------------------------------------------


def validate_tools(tools: Any) -> list[dict[str, Any]]:
    """The request's tools ([] when absent); RequestError unless each is an OpenAI function tool."""
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
        if name != name.strip():  # (the grammar could not tell such whitespace from a marker's)
            raise RequestError(f"tools[{i}].function.name {name!r} must not begin or end with whitespace")
        if name in seen:
            raise RequestError(f"tools[{i}]: duplicate tool name {name!r}")
        seen.add(name)
        if not isinstance(function.get("description", ""), (str, type(None))):
            raise RequestError(f"tools[{i}].function.description must be a string")
        parameters = function.get("parameters", {})
        if not isinstance(parameters, (dict, type(None))):
            raise RequestError(f"tools[{i}].function.parameters must be a JSON Schema object")
        _check_object_root(parameters or {}, f"tools[{i}] {name}")
    return tools


def _check_object_root(schema: dict[str, Any], where: str) -> None:
    """A tool's arguments are a JSON object: a parameters schema for anything else is refused."""
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind
    if kind is not None and (not isinstance(kinds, list) or "object" not in kinds):
        raise RequestError(
            f"{where}: parameters must describe a JSON object (the arguments of a call), not "
            f"`type: {json.dumps(kind)}`; wrap the value in an object property"
        )
    for key in ("const", "enum"):
        if key not in schema:
            continue
        values = [schema[key]] if key == "const" else schema[key]
        if isinstance(values, list) and not any(isinstance(v, dict) for v in values):
            raise RequestError(f"{where}: parameters must describe a JSON object, and its `{key}` allows none")


RESPONSE_FORMAT_SHAPE = (
    '{"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": '
    '{"name": ..., "schema": {...}, "strict": true}}'
)


def validate_response_format(response_format: Any) -> Optional[dict[str, Any]]:
    """The request's `response_format` (None when absent or plain text); RequestError when malformed."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or not isinstance(response_format.get("type"), str):
        raise RequestError(f"response_format must be {RESPONSE_FORMAT_SHAPE}")
    kind = response_format["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise RequestError(f"response_format.type must be text, json_object or json_schema, got {kind!r}")
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise RequestError(f"response_format.json_schema must be an object: {RESPONSE_FORMAT_SHAPE}")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError("response_format.json_schema.name must be a non-empty string")
    schema = spec.get("schema", {})
    if not isinstance(schema, (dict, bool)):
        raise RequestError("response_format.json_schema.schema must be a JSON Schema object")
    if not isinstance(spec.get("strict", False), (bool, type(None))):
        raise RequestError("response_format.json_schema.strict must be true or false")
    return {"type": "json_schema", "json_schema": {**spec, "schema": schema}}


def tools_in_play(request: dict[str, Any]) -> bool:
    """Whether the request offers tools the model may call (tools given, tool_choice not none)."""
    return bool(request.get("tools")) and request.get("tool_choice") != "none"


def validate_tool_choice(tool_choice: Any, tool_names: list[str]) -> Any:
    """`tool_choice` ("auto" when absent); RequestError when it is malformed or names no tool."""
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


def validate_parallel(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise RequestError(f"parallel_tool_calls must be true or false, got {json.dumps(value, default=str)}")
    return value


def tool_names(tools: list[dict[str, Any]]) -> list[str]:
    """The names of validated tools, in order."""
    return [tool["function"]["name"] for tool in tools]


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedCall:
    """One tool call of an assistant message, validated."""

    id: str  # as sent, or call_N (N counts calls in the conversation) when the client sent none
    name: str
    arguments: dict[str, Any]  # parsed
    raw_arguments: Any  # as sent (a JSON string is kept as the client wrote it)
    call: dict[str, Any]  # the client's call object (its extra fields are kept)
    function: dict[str, Any]  # the client's function object


@dataclass(frozen=True)
class CheckedMessage:
    """One message, validated; `source` is the client's message as sent."""

    source: dict[str, Any]
    role: str  # "developer" is read as "system"
    content: Optional[str]  # text parts joined with newlines
    calls: tuple[CheckedCall, ...] = ()
    answers: Optional[str] = None  # tool results: the id of the call answered
    tool_name: Optional[str] = None  # tool results: their name, or the answered call's


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


def _check_calls(tool_calls: Any, where: str, counter: list[int]) -> tuple[CheckedCall, ...]:
    if not isinstance(tool_calls, list):
        raise RequestError(f"{where}.tool_calls must be a list of tool calls")
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
        call_id = call.get("id")
        if call_id is None:
            call_id = f"call_{counter[0]}"  # clients may omit ids; results then match by order
        elif not isinstance(call_id, str):
            raise RequestError(f"{call_where}.id must be a string")
        counter[0] += 1
        calls.append(CheckedCall(call_id, name, parsed, raw, call, function))
    return tuple(calls)


def check_messages(messages: Any) -> tuple[CheckedMessage, ...]:
    """Validate `messages`; RequestError (naming the message and field) at the first problem."""
    if messages is None:
        raise RequestError("messages is required: a list of {role, content} objects")
    if not isinstance(messages, list):
        raise RequestError(f"messages must be a list of {{role, content}} objects, not {type(messages).__name__}")
    if not messages:
        raise RequestError("messages must not be empty: give at least one user message")
    counter = [0]
    pending: list[str] = []  # ids of calls awaiting a result
    names_by_id: dict[str, str] = {}
    out: list[CheckedMessage] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"{where} must be an object with 'role' and 'content'")
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(f"{where}.role {role!r} is not one of {', '.join(ROLES)}")
        content = _text_content(message.get("content"), where)
        if role == "developer":
            role = "system"  # OpenAI's newer name for the system role
        if role in ("system", "user") and content is None:
            raise RequestError(f"{where} ({role}) needs a content string")
        if role == "assistant" and message.get("tool_calls"):
            calls = _check_calls(message["tool_calls"], where, counter)
            pending = [call.id for call in calls]
            names_by_id.update((call.id, call.name) for call in calls)
            out.append(CheckedMessage(message, role, content, calls))
        elif role == "tool":
            if content is None:
                raise RequestError(f"{where} (tool) needs a content string with the tool's result")
            call_id = message.get("tool_call_id")
            if call_id is None:
                if not pending:
                    raise RequestError(
                        f"{where} (tool) needs tool_call_id: the id of the assistant tool call "
                        "it answers"
                    )
                call_id = pending[0]
            elif not isinstance(call_id, str):
                raise RequestError(f"{where}.tool_call_id must be a string")
            pending = [p for p in pending if p != call_id]
            name = message.get("name") or names_by_id.get(call_id)
            out.append(CheckedMessage(message, role, content, answers=call_id, tool_name=name))
        else:
            out.append(CheckedMessage(message, role, content))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# The whole request
# --------------------------------------------------------------------------------------------


# The fields a ValidRequest was made from (replacing one makes it untrusted).
_TRUSTED = ("messages", "tools", "tool_choice", "parallel_tool_calls", "response_format")


class ValidRequest(dict):
    """A validated request: the OpenAI request dict (defaults filled in) plus its checked messages.

    It stays a plain request for hooks and clients; rendering reads `messages_checked` instead of
    validating again, as long as the fields it was made from are still the ones it holds.
    """

    def __init__(self, fields: dict[str, Any], messages_checked: tuple[CheckedMessage, ...]):
        super().__init__(fields)
        self.messages_checked = messages_checked
        self._made_from = tuple(fields.get(k) for k in _TRUSTED)

    def intact(self) -> bool:
        """Whether the validated fields are still in place (a caller may have replaced one)."""
        return all(self.get(k) is v for k, v in zip(_TRUSTED, self._made_from))


def validate_request(request: Any, spec: Any = None) -> ValidRequest:
    """Check an OpenAI chat-completion request; return a copy with defaults filled in
    (`tools` None when absent or empty, `tool_choice` "auto", `parallel_tool_calls` True,
    `response_format` None for plain text). A response_format with tools the model may call is
    refused (tool_choice "none" makes it apply).

    Raises `RequestError` with a message that says what to fix. The messages themselves are
    returned as given (only checked), so the copy is still an OpenAI request. A request that is
    already a `ValidRequest` is returned as is. `spec` is accepted for 0.1 callers: what is valid
    does not depend on the format.
    """
    if isinstance(request, ValidRequest) and request.intact():
        return request
    if not isinstance(request, dict):
        raise RequestError(f"the request must be a JSON object, not {type(request).__name__}")
    tools = validate_tools(request.get("tools"))
    tool_choice = validate_tool_choice(request.get("tool_choice"), tool_names(tools))
    parallel = validate_parallel(request.get("parallel_tool_calls"))
    response_format = validate_response_format(request.get("response_format"))
    if response_format is not None and tools and tool_choice != "none":
        raise RequestError(
            "response_format cannot be combined with tools the model may call: the reply is either "
            'a tool call or text in that format; send tool_choice "none" to constrain the reply, '
            "or leave response_format out"
        )
    messages = check_messages(request.get("messages"))
    fields = {
        **request,
        "tools": tools or None,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel,
        "response_format": response_format,
    }
    return ValidRequest(fields, messages)
