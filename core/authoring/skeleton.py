"""The commented spec skeleton `formats new NAME` writes."""

from __future__ import annotations

SKELETON = '''\
# A chatformats spec. Fill in the markers your model writes, then run `formats check FILE`.
# Every field is described by `formats schema`; docs/writing-a-format.md walks through each section.
spec_version: 1
name: {name}
description: "What the model writes for a tool call, in one line"
detect:
  # Strings that occur in the model's chat template (all must); higher priority wins.
  markers: ["<tool_call>"]
  priority: 10
inputs:
  # object: the template applies |tojson to the arguments; string: it concatenates a JSON string.
  arguments: object
  # native, or merge_into_first_user for templates that reject a system message.
  system: native
tool_calls:
  # One <tool_call>...</tool_call> block per call, each a JSON object {{"name", "arguments"}}.
  call: {{begin: "<tool_call>", end: "</tool_call>"}}
  separator: "\\n"
  body: json
  json: {{name_key: name, arguments_key: arguments}}
# reasoning: {{begin: "<think>", end: "</think>"}}
# End-of-turn markers that end generation.
stop: ["<|im_end|>"]
example_tools:
  - type: function
    function:
      name: get_weather
      description: Current weather for a city.
      parameters:
        type: object
        properties:
          city: {{type: string}}
        required: [city]
examples:
  - name: content only
    output: "It is sunny."
    message: {{content: "It is sunny."}}
  - name: one call
    output: "<tool_call>{{\\"name\\": \\"get_weather\\", \\"arguments\\": {{\\"city\\": \\"Paris\\"}}}}</tool_call>"
    message:
      tool_calls: [{{name: get_weather, arguments: {{city: Paris}}}}]
'''


def skeleton_yaml(name: str) -> str:
    """A commented spec skeleton that loads and passes `formats check` as written."""
    return SKELETON.format(name=name)

