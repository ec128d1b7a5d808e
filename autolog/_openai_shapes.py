"""How OpenAI's requests and responses read: the readers the OpenAI SDK's chat, completions and Responses API
integrations share with LiteLLM, which speaks the OpenAI format whatever the provider.

Messages are read into the OTel GenAI shape: ``{"role", "parts": [{"type": "text", "content"}, …]}``.
"""

from __future__ import annotations

from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_hosts import provider_name
from ._patch import Request

_SAMPLING = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
    attr.GEN_AI_REQUEST_CHOICE_COUNT: "n",
}


def base_attributes(
    instance: Any, kwargs: dict[str, Any], operation: str, max_tokens: tuple[str, ...]
) -> dict[str, Any]:
    """What a call through the OpenAI SDK records of its request, whichever API; ``max_tokens``: the names the
    limit goes by there, the first given wins."""
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: operation,
        attr.GEN_AI_PROVIDER_NAME: provider_name(getattr(instance, "_client", None)),
        **rec.request_attributes(kwargs, _SAMPLING),
    }
    model = kwargs.get("model")
    if rec.given(model):
        values[attr.GEN_AI_REQUEST_MODEL] = str(model)
    for name in max_tokens:
        value = kwargs.get(name)
        if rec.given(value):
            values[attr.GEN_AI_REQUEST_MAX_TOKENS] = value
            break
    return values


def chat_request(values: dict[str, Any], kwargs: dict[str, Any], content: bool, inputs: dict[str, Any]) -> Request:
    """A chat request in OpenAI's format, whichever SDK sends it (OpenAI, Groq, Mistral): ``values``, what the
    integration read of the call, plus the tools, output type and messages."""
    tools, response_format = kwargs.get("tools"), kwargs.get("response_format")
    if rec.given(tools):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = tool_definitions(tools)
    if rec.given(response_format):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = to_json(chat_messages(kwargs.get("messages")))  # as otel_value would
    return Request(
        name=rec.span_name("chat", kwargs.get("model")),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=inputs,
        kwargs=kwargs,
        content=content,
    )


def with_usage(kwargs: dict[str, Any], *, body: bool = False) -> tuple[dict[str, Any], bool]:
    """Ask a stream for its usage when the caller did not; the extra usage-only item is then ours to hide.

    With ``body`` (the OpenAI SDK) the option travels in ``extra_body``, which the SDK sends as it is, where
    ``stream_options`` would first be walked against its declared types (about 1% of a streamed call).
    """
    if kwargs.get("stream") is not True:
        return kwargs, False
    options = kwargs.get("stream_options")
    if rec.given(options):
        if isinstance(options, dict) and "include_usage" not in options:
            return {**kwargs, "stream_options": {**options, "include_usage": True}}, True
        return kwargs, False
    if not body:
        return {**kwargs, "stream_options": {"include_usage": True}}, True
    extra = kwargs.get("extra_body")
    if extra is None:
        return {**kwargs, "extra_body": {"stream_options": {"include_usage": True}}}, True
    if isinstance(extra, dict) and "stream_options" not in extra:
        return {**kwargs, "extra_body": {**extra, "stream_options": {"include_usage": True}}}, True
    return kwargs, False


def tool_definitions(tools: Any) -> list[Any]:
    """Chat completions' tools (``{"type": "function", "function": {…}}``) as the GenAI convention's flat ones."""
    definitions = []
    for tool in rec.plain(tools) or []:
        function = rec.get(tool, "function")
        definitions.append({"type": "function", **function} if isinstance(function, dict) else tool)
    return definitions


def chat_messages(messages: Any) -> list[dict[str, Any]]:
    """The request's messages in the GenAI shape. A plain text message (most of them) is read as it is, without
    ``plain()`` and the general reader: three calls less a message, on every call."""
    if type(messages) is not list:
        return [chat_message(m) for m in rec.plain(messages) or []]
    found = []
    for message in messages:
        get = message.get if type(message) is dict else None
        if get is not None:
            role, text = get("role"), get("content")
            if type(role) is str and role != "tool" and type(text) is str and not get("tool_calls") and not get("name"):
                found.append({"role": role, "parts": [rec.text_part(text)]})
                continue
        found.append(chat_message(rec.plain(message)))
    return found


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """One chat message, already plain, in the GenAI shape: its text, tool calls or tool result as parts."""
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        parts: list[Any] = [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}]
    else:
        parts = content_parts(content)
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(rec.tool_call_part(call.get("id"), function.get("name"), function.get("arguments")))
    result = {"role": role, "parts": parts}
    if message.get("name"):
        result["name"] = message["name"]
    return result


def content_parts(content: Any) -> list[Any]:
    """A message's content, a string or a list of parts; the parts that are not text are kept as they are."""
    if content is None:
        return []
    if isinstance(content, str):
        return [rec.text_part(content)]
    parts = []
    for part in content if isinstance(content, list) else [content]:
        text = rec.field(part, "text")
        parts.append(rec.text_part(text) if isinstance(text, str) else part)
    return parts


def chat_response(request: Request, result: Any) -> dict[str, Any]:
    """Read from the SDK's own object (or the dict a stream was folded into), not from a dump of it."""
    if result is None:
        return {}
    choices, response_id, model, usage = rec.fields(result, "choices", "id", "model", "usage")
    choices = choices or []
    reasons = [rec.field(c, "finish_reason") for c in choices]
    values = rec.response_attributes(response_id=response_id, model=model, finish_reasons=reasons)
    values.update(token_counts(usage))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = to_json([_chat_output(c) for c in choices])  # as otel_value would
        values[attr.OUTPUTS] = rec.json_text(result)
    return values


def token_counts(usage: Any) -> dict[str, int]:
    """Chat completions' token counts, or the Responses API's (``input_tokens``, ``output_tokens``)."""
    if usage is None:
        return {}
    field = rec.field
    prompt, completion, prompt_details, completion_details = rec.fields(
        usage, "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"
    )
    if prompt is None and completion is None:  # the Responses API's names
        prompt, completion, prompt_details, completion_details = rec.fields(
            usage, "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"
        )
    return rec.usage_attributes(
        input_tokens=prompt,
        output_tokens=completion,
        cache_read=field(prompt_details, "cached_tokens") or None,
        reasoning=field(completion_details, "reasoning_tokens") or None,
    )


def _chat_output(choice: Any) -> dict[str, Any]:
    field = rec.field
    message, finish_reason = rec.fields(choice, "message", "finish_reason")
    content, refusal, tool_calls, role = rec.fields(message, "content", "refusal", "tool_calls", "role")
    parts = content_parts(content)
    if refusal:
        parts.append({"type": "refusal", "content": refusal})
    for call in tool_calls or []:
        function = field(call, "function")
        parts.append(rec.tool_call_part(field(call, "id"), field(function, "name"), field(function, "arguments")))
    return {"role": role or "assistant", "parts": parts, "finish_reason": finish_reason}
