"""What a span of the OpenAI Agents SDK records: its name, kind and attributes when it starts and when it ends.

Split from ``_agents_processor.py``, which keeps the span table and the contexts. Model calls are read with the readers
the OpenAI SDK's own integration uses (``_openai_responses``, ``_openai_shapes``), from the ``Response`` object or the
chat messages the SDK keeps on its span, so a model call reads the same whichever integration recorded it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_hosts import name_of_url
from ._openai_responses import responses_request, responses_response
from ._openai_shapes import chat_message, chat_messages, token_counts
from ._patch import Request

# Levels the runner adds between an agent and its work (one run, one turn of the loop): the agent span already
# stands for the run, and the turns read from the order of the model calls, so their children go to their parent.
FOLDED = frozenset({"task", "turn"})
MODELS = frozenset({"response", "generation"})
# Read off a Response to rebuild the request it answered (the SDK's span keeps the Response, not the request).
_ECHOED = ("instructions", "tools", "temperature", "top_p", "max_output_tokens", "text")
_CHAT_PARAMS = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_MAX_TOKENS: "max_tokens",
}


def opening(data: Any) -> tuple[str, SpanKind, dict[str, Any]]:
    """The name, kind and attributes of a span as it starts; what is only known at its end comes in ``closing``."""
    kind = data.type
    if kind == "agent":
        values = {attr.GEN_AI_OPERATION_NAME: "invoke_agent", attr.GEN_AI_AGENT_NAME: str(data.name)}
        return f"invoke_agent {data.name}", SpanKind.AGENT, values
    if kind == "function":
        values = {attr.GEN_AI_OPERATION_NAME: "execute_tool", attr.GEN_AI_TOOL_NAME: str(data.name)}
        return f"execute_tool {data.name}", SpanKind.TOOL, values
    if kind == "response":
        return "chat", SpanKind.CHAT_MODEL, {attr.GEN_AI_OPERATION_NAME: "chat"}
    if kind == "generation":
        return rec.span_name("chat", data.model), SpanKind.CHAT_MODEL, _generation_request(data)
    if kind == "handoff":
        return "handoff", SpanKind.CHAIN, {}
    if kind == "guardrail":
        return str(data.name), SpanKind.GUARDRAIL, {}
    if kind == "custom":
        return str(data.name), SpanKind.CHAIN, {}
    if kind == "mcp_tools":
        return f"list_tools {data.server}" if data.server else "list_tools", SpanKind.CHAIN, {}
    if kind in ("transcription", "speech"):
        return rec.span_name(kind, getattr(data, "model", None)), SpanKind.LLM, _model_attributes(data)
    return str(getattr(data, "name", None) or kind), SpanKind.CHAIN, {}


def closing(data: Any, content: bool) -> tuple[str | None, dict[str, Any]]:
    """A new name (``None``: keep it) and the attributes to set as the span ends: inputs and outputs as JSON."""
    kind = data.type
    values: dict[str, Any] = {}
    if kind == "agent":
        values = {
            attr.OPENAI_AGENTS_TOOLS: data.tools,
            attr.OPENAI_AGENTS_HANDOFFS: data.handoffs,
            attr.OPENAI_AGENTS_OUTPUT_TYPE: data.output_type,
        }
        return None, {k: v for k, v in values.items() if v}
    if kind == "response":
        return _response(data, content)
    if kind == "generation":
        return None, _generation_response(data, content)
    if kind == "function":
        if content and data.input is not None:
            arguments = rec.parse_arguments(data.input)
            values = {attr.GEN_AI_TOOL_CALL_ARGUMENTS: arguments, attr.INPUTS: to_json(arguments)}
        if content and data.output is not None:
            values.update({attr.GEN_AI_TOOL_CALL_RESULT: rec.plain(data.output), attr.OUTPUTS: to_json(data.output)})
        return None, values
    if kind == "handoff":
        values = {attr.OPENAI_AGENTS_HANDOFF_FROM: data.from_agent, attr.OPENAI_AGENTS_HANDOFF_TO: data.to_agent}
        return f"handoff {data.from_agent} -> {data.to_agent}", {k: v for k, v in values.items() if v}
    if kind == "guardrail":
        return None, {
            attr.GUARDRAIL_TRIGGERED: bool(data.triggered),
            attr.OUTPUTS: to_json({"triggered": data.triggered}),
        }
    if kind == "custom" and content:
        return None, {attr.INPUTS: to_json(data.data)}
    if kind == "mcp_tools" and data.result is not None:
        return None, {attr.OUTPUTS: to_json(data.result)}
    if kind in ("transcription", "speech") and content:
        text = data.output if kind == "transcription" else data.input  # the text side; audio is left out
        return None, {attr.OUTPUTS if kind == "transcription" else attr.INPUTS: to_json(text)}
    return None, values


def model_io(data: Any) -> tuple[Any, Any]:
    """A model call's input, and the text it answered (``None`` for tool calls): what its agent took in and gave."""
    if data.type == "response":
        response = data.response
        return _question(data.input), (getattr(response, "output_text", None) or None) if response else None
    texts: list[Any] = []
    for message in data.output or []:
        answer = rec.get(message, "content")
        if isinstance(answer, str) and answer:
            texts.append(answer)
        elif isinstance(rec.get(message, "output"), list):  # a streamed chat call keeps a Response's dump
            texts += [
                piece.get("text")
                for item in message["output"]
                for piece in rec.get(item, "content") or []
                if isinstance(piece, Mapping) and piece.get("type") == "output_text"
            ]
    messages = [m for m in data.input or [] if rec.get(m, "role") != "system"]  # the agent's instructions
    return _question(messages), "".join(t for t in texts if isinstance(t, str)) or None


def tool_calls(data: Any) -> list[tuple[str, str, str]]:
    """The tool calls a model call asked for: name, JSON arguments and call id each. The SDK's function span knows
    the name and arguments but not the id, which is what ties a tool's result to the call in the messages."""
    if data.type == "response":
        items = rec.get(rec.plain(data.response), "output") or []
    else:  # a chat message's tool calls, or a streamed call's Response dump
        items = []
        for message in rec.plain(list(data.output or [])):
            items += rec.get(message, "output") or []
            for call in rec.get(message, "tool_calls") or []:
                function = rec.get(call, "function") or {}
                items.append({"type": "function_call", "call_id": call.get("id"), **function})
    return [
        (str(item.get("name")), str(item.get("arguments")), str(item.get("call_id")))
        for item in items
        if isinstance(item, dict) and item.get("type") == "function_call" and item.get("call_id")
    ]


def _question(items: Any) -> Any:
    """A run's input as the caller gave it: one user message's text as that text, else the items as they are."""
    if isinstance(items, list) and len(items) == 1 and rec.get(items[0], "role") == "user":
        text = rec.get(items[0], "content")
        if isinstance(text, str):
            return text
    return rec.plain(items)


def _response(data: Any, content: bool) -> tuple[str | None, dict[str, Any]]:
    response = data.response
    if response is None:  # the SDK was told not to keep model data: its usage is all there is
        return None, _usage(data.usage)
    kwargs = {key: rec.plain(getattr(response, key, None)) for key in _ECHOED}
    kwargs["input"] = data.input
    request = responses_request(None, (), kwargs, content)
    values = request.attributes
    values.pop(attr.GEN_AI_PROVIDER_NAME, None)  # the span knows no client: not "openai_compatible" for nothing
    if request.inputs:
        values[attr.INPUTS] = to_json(request.inputs)
    values.update(responses_response(request, response))
    return rec.span_name("chat", response.model), values


def _usage(usage: Any) -> dict[str, int]:
    """The SDK's usage of one call; all zeros is what it puts where the provider reported none (a chat stream that
    was not asked for usage): unknown, not free."""
    if not rec.get(usage, "input_tokens") and not rec.get(usage, "output_tokens"):
        return {}
    return token_counts(usage)


def _generation_request(data: Any) -> dict[str, Any]:
    values = {attr.GEN_AI_OPERATION_NAME: "chat", **_model_attributes(data)}
    config = data.model_config or {}
    values.update(rec.request_attributes(config, _CHAT_PARAMS))
    if isinstance(config.get("base_url"), str):
        values[attr.GEN_AI_PROVIDER_NAME] = name_of_url(config["base_url"])
    return values


def _model_attributes(data: Any) -> dict[str, Any]:
    model = getattr(data, "model", None)
    return {attr.GEN_AI_REQUEST_MODEL: str(model)} if rec.given(model) else {}


def _generation_response(data: Any, content: bool) -> dict[str, Any]:
    values: dict[str, Any] = _usage(data.usage)
    if not content:
        return values
    if data.input is not None:
        values[attr.GEN_AI_INPUT_MESSAGES] = chat_messages(list(data.input))
        values[attr.INPUTS] = to_json({"messages": rec.plain(data.input)})
    if data.output is not None:
        output = rec.plain(list(data.output))
        messages = []
        for item in output:
            if isinstance(rec.get(item, "output"), list):  # a streamed call keeps the Response it was folded into
                found = responses_response(_READ_CONTENT, item).get(attr.GEN_AI_OUTPUT_MESSAGES) or []
                messages += found if isinstance(found, list) else []
                values.update(
                    rec.response_attributes(response_id=item.get("id"), model=item.get("model"), finish_reasons=[])
                )
            elif isinstance(item, dict):
                messages.append(chat_message(item))
        values[attr.GEN_AI_OUTPUT_MESSAGES] = messages
        values[attr.OUTPUTS] = to_json(output[0] if len(output) == 1 else output)
    return values


# What ``responses_response`` is given to read a Response kept whole in a streamed chat call's span: contents wanted.
_READ_CONTENT = Request(name="", kind=SpanKind.CHAT_MODEL, attributes={}, inputs=None, kwargs={}, content=True)
