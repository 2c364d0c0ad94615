"""The prompt seam: request validation (once), polyfills, tool-call ids, template probes, the Jinja
sandbox and rendering. Imports only `chatformats.spec`."""

from .limits import LimitsError, TemplateLimits, set_template_limits, template_limits
from .probe import Variables, template_drops_system, template_wants
from .render import choose_template, prepare_context, render_prompt
from .request import (
    ROLES,
    TOOL_CHOICE_MODES,
    TOOL_CHOICE_SHAPE,
    TOOL_SHAPE,
    CheckedCall,
    CheckedMessage,
    RequestError,
    ValidRequest,
    tools_in_play,
    validate_request,
    validate_response_format,
    validate_tool_choice,
    validate_tools,
)
from .template import (
    ChatTemplate,
    TemplateError,
    TemplateLimitError,
    TemplateRaised,
    compile_expression,
    compile_template,
    evaluate_expression,
    strftime_now,
    template_references_tools,
)

__all__ = [
    "ROLES",
    "TOOL_CHOICE_MODES",
    "TOOL_CHOICE_SHAPE",
    "TOOL_SHAPE",
    "ChatTemplate",
    "CheckedCall",
    "CheckedMessage",
    "RequestError",
    "LimitsError",
    "TemplateError",
    "TemplateLimitError",
    "TemplateLimits",
    "TemplateRaised",
    "ValidRequest",
    "Variables",
    "choose_template",
    "compile_expression",
    "compile_template",
    "evaluate_expression",
    "prepare_context",
    "render_prompt",
    "set_template_limits",
    "strftime_now",
    "template_drops_system",
    "template_limits",
    "template_references_tools",
    "template_wants",
    "tools_in_play",
    "validate_request",
    "validate_response_format",
    "validate_tool_choice",
    "validate_tools",
]
