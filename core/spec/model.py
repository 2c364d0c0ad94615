"""The format spec: one declarative description drives rendering, triggers, grammar and parsing.

Every model is `extra="forbid"` so a misspelled key is an error with a position, not a silent default.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPEC_VERSION = 1


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Detect(StrictModel):
    """How to recognise this format from a chat template's source."""

    markers: list[str] = Field(
        default_factory=list, description="All of these strings must occur in the template."
    )
    any_markers: list[str] = Field(
        default_factory=list, description="At least one of these must occur (when given)."
    )
    absent: list[str] = Field(
        default_factory=list, description="None of these may occur in the template."
    )
    priority: int = Field(0, description="Higher wins when several formats match.")


class Inputs(StrictModel):
    """How the chat template wants its inputs (the polyfills applied before rendering)."""

    arguments: Literal["object", "string", "auto"] = Field(
        "object",
        description="Tool-call arguments as a mapping (templates that apply tojson) or a JSON string "
        "(templates that concatenate with +); auto: probe the template once and use what it renders.",
    )
    content_with_tool_calls: Literal["null", "empty", "auto"] = Field(
        "null",
        description="What an assistant message that only has tool calls carries as content (auto: "
        "probe the template).",
    )
    system: Literal["native", "merge_into_first_user", "auto"] = Field(
        "native",
        description="merge_into_first_user: for templates that reject a system role; auto: probe the "
        "template (render a system message, merge when it raises or drops it).",
    )
    tool_calls_in_content: bool = Field(
        False,
        description="Write the history's tool calls into the assistant content in this format's own "
        "wire shape (for templates that cannot show tool calls).",
    )
    tool_results_as_json: bool = Field(
        False,
        description='Give tool results to the template as JSON text {"tool_response": {"id", "name", '
        '"content"}} (for templates without a tool role; pair with tool_role: user).',
    )
    tool_role: str = Field("tool", description="Role name the template expects for tool results.")
    reasoning_field: Optional[str] = Field(
        None,
        description="Message field the template reads the assistant's reasoning from, when it is not "
        "reasoning_content (e.g. tool_plan for Command R7B).",
    )
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="Extra template variables: each value is a Jinja expression evaluated in the "
        "sandbox with `tools`, `messages`, `strftime_now` and `builtin_tool_names` in scope.",
    )
    template: Optional[str] = Field(
        None, description="A tool-aware chat template of the format's own (Jinja source)."
    )
    use_template: Literal["never", "when_model_template_lacks_tools", "always"] = Field(
        "when_model_template_lacks_tools",
        description="When `template` replaces the model's own template.",
    )


class Reasoning(StrictModel):
    begin: str = Field(description="Opening reasoning marker, e.g. <think>.")
    end: str = Field(description="Closing reasoning marker, e.g. </think>.")


class Markers(StrictModel):
    begin: str = ""
    end: str = ""


class JsonBody(StrictModel):
    """A call written as one JSON object holding the name and the arguments."""

    name_key: str = "name"
    arguments_key: str = "arguments"
    id_key: Optional[str] = Field(None, description="Key of the call id inside the object, if any.")
    optional_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Fixed fields the model may write before the name, e.g. {type: function}.",
    )


class NameBody(StrictModel):
    """A call written as NAME then its JSON arguments: <function=NAME>{...} or NAME\\n{...}."""

    name_suffix: str = Field(description="Text between the name and the JSON arguments.")


class SpecialTool(StrictModel):
    """Tools that some models call in a syntax of their own (builtin tools, raw code)."""

    names: list[str] = Field(min_length=1)
    begin: Optional[str] = Field(
        None,
        description="Marker that opens this call in place of the usual call begin. For `raw` the name "
        "is implied (the first of `names`); for `python_call` it is written in the body. Without it, "
        "a `raw` tool is called by name like the others (with `tool_calls.body: name`); other special "
        "tools need it (without it they are called in the regular form only).",
    )
    body: Literal["raw", "python_call"] = Field(
        description="raw: the rest of the call is the value of `argument`; python_call: NAME.call(k=v, ...)."
    )
    argument: str = Field("code", description="For raw bodies: the argument that receives the text.")
    end: str = ""
    stop: list[str] = Field(
        default_factory=list, description="Extra stop markers after this kind of call (e.g. <|eom_id|>)."
    )
    render_variable: Optional[str] = Field(
        None,
        description="Template variable that receives the names of these tools present in the request "
        "(e.g. builtin_tools for Llama 3.1).",
    )


class Envelope(StrictModel):
    """The whole output is one JSON object (formats for models without native tool calls)."""

    calls_key: str = Field("tool_calls", description='{"tool_calls": [CALL, ...]} when parallel.')
    call_key: str = Field("tool_call", description='{"tool_call": CALL} for one call.')
    content_key: str = Field("response", description='{"response": "text"} for a plain answer.')


class Ids(StrictModel):
    style: Literal["random", "alnum9", "index"] = Field(
        "random",
        description="random: call_<24 alphanumerics>; alnum9: exactly 9 alphanumerics (Mistral); "
        "index: the call's position as a string (Command R7B).",
    )
    written_by_model: bool = Field(
        True,
        description="The model writes each call's id (at `json.id_key`): the grammar allows it and "
        "the history shows it. false: ids are assigned when parsing (the grammar and the history "
        "leave them out; an id the model writes before the arguments is still read).",
    )


class ToolCalls(StrictModel):
    """The wire shape of tool calls in the model's output."""

    section: Markers = Field(default_factory=Markers, description="Around all calls of one message.")
    section_end_optional: bool = Field(
        False, description="Accept output whose section end is missing (templates that leave it open)."
    )
    array: bool = Field(
        False, description="Calls are the elements of one JSON array inside the section."
    )
    call: Markers = Field(default_factory=Markers, description="Around each call.")
    separator: str = Field("", description="Between two calls.")
    body: Literal["json", "name"] = "json"
    json_body: JsonBody = Field(default_factory=JsonBody, alias="json")
    name_body: Optional[NameBody] = Field(None, alias="name")
    envelope: Optional[Envelope] = None
    special_tools: list[SpecialTool] = Field(default_factory=list)
    max_calls: Optional[int] = Field(
        None,
        ge=1,
        description="At most this many calls per message (the grammar's default with parallel calls "
        "is 8; the parser reads any number when unset).",
    )
    anchored: bool = Field(
        False, description="Calls only count at the very start of the output (no content before)."
    )
    implicit_prefix: str = Field(
        "",
        description="Text the generation prompt ends with that belongs to the output (Functionary "
        "v3.2's >>>); output is parsed as if it started with it.",
    )
    content: Markers = Field(
        default_factory=Markers,
        description="Markers around plain content, stripped when parsing (e.g. >>>all\\n).",
    )
    content_encoding: Literal["raw", "json_string"] = "raw"
    ids: Ids = Field(default_factory=Ids)
    flexible_whitespace: int = Field(
        0,
        ge=0,
        le=64,
        description="0 (default): markers are literal, whitespace included, and nothing comes between "
        "the pieces of a call. N > 0: whitespace at the edges of markers (and whitespace-only "
        "markers such as a separator \"\\n\") may be any run of 0 to N spaces, tabs or newlines "
        "(at least as many as the marker writes), and such a run may also come between two calls "
        "and between a section marker and the call beside it. The grammar and the parser both "
        "read it so.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _shape_is_consistent(self) -> "ToolCalls":
        if self.body == "name" and self.name_body is None:
            raise ValueError("body: name needs a `name:` block with name_suffix")
        if self.array and self.body != "json":
            raise ValueError("array: true needs body: json")
        if self.array and (self.call.begin or self.call.end or self.separator):
            raise ValueError("array: true: calls are the array's elements, so call markers and a separator do not apply")
        if self.envelope is None and not self.array and not (
            self.section.begin or self.call.begin or self.anchored or self.implicit_prefix
        ):
            raise ValueError(
                "calls need a marker to be found: set section.begin or call.begin, or anchored: true"
            )
        return self


class Triggers(StrictModel):
    """What switches a lazy grammar on. Derived from the tool-call shape where left empty."""

    words: list[str] = Field(default_factory=list, description="Literal text anywhere in the output.")
    tokens: list[str] = Field(
        default_factory=list, description="Special tokens (by text) that start a call."
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="Regexes searched anywhere; the first capture group (or the match) starts the call.",
    )
    patterns_full: list[str] = Field(
        default_factory=list,
        description="Regexes that must match the whole output so far (anchored at its start).",
    )
    lazy: bool = Field(True, description="false: constrain the whole output from the first token.")


class Example(StrictModel):
    """Model output and the assistant message it must parse to."""

    name: str
    output: str
    message: dict[str, Any] = Field(
        description="Expected message: content, reasoning_content and tool_calls written as "
        "[{name, arguments (a mapping), id (only when the output carries one)}]."
    )
    tools: Optional[list[str]] = Field(
        None, description="Names of the spec's example tools offered (default: all)."
    )


class Spec(StrictModel):
    """A declarative tool-calling format."""

    spec_version: Literal[1] = Field(description="Version of this spec schema (1).")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    detect: Detect = Field(default_factory=Detect)
    inputs: Inputs = Field(default_factory=Inputs)
    tool_calls: ToolCalls
    triggers: Triggers = Field(default_factory=Triggers)
    reasoning: Optional[Reasoning] = None
    stop: list[str] = Field(
        default_factory=list, description="End-of-turn markers that end generation."
    )
    end_of_turn: list[str] = Field(
        default_factory=list,
        description="More markers that end an assistant turn in rendered history (e.g. those of the "
        "templates a generic format is used with); the round-trip oracle and `formats new` cut a "
        "rendered reply there. Unlike `stop`, they do not end generation.",
    )
    system_prompt: Optional[str] = Field(
        None,
        description="Jinja text describing the tools, added as (or to) the system message, for "
        "models whose template cannot show tools. `tools` and `parallel` are in scope.",
    )
    example_tools: list[dict[str, Any]] = Field(
        default_factory=list, description="OpenAI tool definitions used by the examples."
    )
    examples: list[Example] = Field(default_factory=list)
    control_tokens: list[str] = Field(
        default_factory=list,
        description="The control tokens of this format's models (special tokens such as "
        "<|im_start|>). The tiny test model has each as one token, so tests and `formats check` "
        "tokenize as the real models do.",
    )
    reference_templates: list[str] = Field(
        default_factory=list,
        description="Real chat templates of models that use this format: file names in the shared "
        "templates directory ($CHATFORMATS_TEMPLATES_DIR, else ../shared/templates). The first is "
        "the one `formats demo` shows the format with.",
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file (what `formats schema` prints)."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "chatformats spec"
    return schema
