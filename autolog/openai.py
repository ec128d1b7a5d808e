"""What to record for the OpenAI SDK (and AzureOpenAI, which shares its resources).

Patched: ``chat.completions.create`` / ``.parse`` (``.stream()`` calls ``create``), ``responses.create`` / ``.parse``
(``responses.stream()`` calls ``create``), ``embeddings.create`` and legacy ``completions.create``, sync and async.
Messages are recorded in the OTel GenAI shape: ``{"role", "parts": [{"type": "text", "content"}, …]}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_responses import ResponsesStream, responses_request, responses_response
from ._openai_stream import ChatStream, CompletionsStream
from ._patch import Endpoint, Request, install, uninstall

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"
_COMPLETIONS = "openai.resources.completions"
_SAMPLING = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
    attr.GEN_AI_REQUEST_CHOICE_COUNT: "n",
}


def _provider(instance: Any) -> str:
    client = getattr(instance, "_client", None)
    return "azure.ai.openai" if "Azure" in type(client).__name__ else "openai"


def _base(instance: Any, kwargs: dict[str, Any], operation: str, max_tokens: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: operation,
        attr.GEN_AI_PROVIDER_NAME: _provider(instance),
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


def _with_usage(kwargs: dict[str, Any], *, body: bool = False) -> tuple[dict[str, Any], bool]:
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


def _tool_definitions(tools: Any) -> list[Any]:
    definitions = []
    for tool in rec.plain(tools) or []:
        function = rec.get(tool, "function")
        definitions.append({"type": "function", **function} if isinstance(function, dict) else tool)
    return definitions


@functools.cache
def _stream_types() -> tuple[type, ...]:
    from openai import AsyncStream, Stream  # once: an import statement costs a lookup through importlib each time

    return (Stream, AsyncStream)


def _is_stream(result: Any) -> bool:
    return isinstance(result, _stream_types())


# chat.completions ------------------------------------------------------------------------------------------------


def _chat_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = _base(instance, kwargs, "chat", ("max_completion_tokens", "max_tokens"))
    tools, response_format = kwargs.get("tools"), kwargs.get("response_format")
    if rec.given(tools):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = _tool_definitions(tools)
    if rec.given(response_format):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = to_json(_chat_messages(kwargs.get("messages")))  # as otel_value would
    call_kwargs, hide = _with_usage(kwargs, body=True)
    return Request(
        name=rec.span_name("chat", kwargs.get("model")),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=rec.inputs(kwargs, ("messages",), content),
        kwargs=call_kwargs,
        content=content,
        hide_usage=hide,
    )


def _chat_messages(messages: Any) -> list[dict[str, Any]]:
    """The request's messages in the GenAI shape. A plain text message (most of them) is read as it is, without
    ``plain()`` and the general reader: three calls less a message, on every call."""
    if type(messages) is not list:
        return [_chat_message(m) for m in rec.plain(messages) or []]
    found = []
    for message in messages:
        get = message.get if type(message) is dict else None
        if get is not None:
            role, text = get("role"), get("content")
            if type(role) is str and role != "tool" and type(text) is str and not get("tool_calls") and not get("name"):
                found.append({"role": role, "parts": [rec.text_part(text)]})
                continue
        found.append(_chat_message(rec.plain(message)))
    return found


def _chat_message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        parts: list[Any] = [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}]
    else:
        parts = _content_parts(content)
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(rec.tool_call_part(call.get("id"), function.get("name"), function.get("arguments")))
    result = {"role": role, "parts": parts}
    if message.get("name"):
        result["name"] = message["name"]
    return result


def _content_parts(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [rec.text_part(content)]
    parts = []
    for part in content if isinstance(content, list) else [content]:
        text = rec.field(part, "text")
        parts.append(rec.text_part(text) if isinstance(text, str) else part)
    return parts


def _chat_response(request: Request, result: Any) -> dict[str, Any]:
    """Read from the SDK's own object (or the dict a stream was folded into), not from a dump of it."""
    if result is None:
        return {}
    choices, response_id, model, usage = rec.fields(result, "choices", "id", "model", "usage")
    choices = choices or []
    reasons = [rec.field(c, "finish_reason") for c in choices]
    values = rec.response_attributes(response_id=response_id, model=model, finish_reasons=reasons)
    values.update(_usage(usage))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = to_json([_chat_output(c) for c in choices])  # as otel_value would
        values[attr.OUTPUTS] = rec.json_text(result)
    return values


def _usage(usage: Any) -> dict[str, int]:
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
    parts = _content_parts(content)
    if refusal:
        parts.append({"type": "refusal", "content": refusal})
    for call in tool_calls or []:
        function = field(call, "function")
        parts.append(rec.tool_call_part(field(call, "id"), field(function, "name"), field(function, "arguments")))
    return {"role": role or "assistant", "parts": parts, "finish_reason": finish_reason}


# embeddings and legacy completions ------------------------------------------------------------------------------


def _embeddings_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = _base(instance, kwargs, "embeddings", ())
    if rec.given(kwargs.get("encoding_format")):
        values[attr.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(kwargs["encoding_format"])]
    return Request(
        name=rec.span_name("embeddings", kwargs.get("model")),
        kind=SpanKind.EMBEDDING,
        attributes=values,
        inputs=rec.inputs(kwargs, ("input",), content),
        kwargs=kwargs,
        content=content,
    )


def _embeddings_response(request: Request, result: Any) -> dict[str, Any]:
    model = getattr(result, "model", None)
    usage = getattr(result, "usage", None)
    values = rec.response_attributes(response_id=None, model=model, finish_reasons=[])
    values.update(rec.usage_attributes(input_tokens=getattr(usage, "prompt_tokens", None)))
    if request.content:  # the vectors themselves would only bloat the store: record their shape
        vectors = [{"index": e.index, "dimensions": len(e.embedding)} for e in getattr(result, "data", None) or []]
        values[attr.OUTPUTS] = to_json({"model": model, "data": vectors, "usage": usage})
    return values


def _completions_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = _base(instance, kwargs, "text_completion", ("max_tokens",))
    if content:
        prompt = kwargs.get("prompt")
        prompts = prompt if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt) else [prompt]
        values[attr.GEN_AI_INPUT_MESSAGES] = [{"role": "user", "parts": [rec.text_part(p)]} for p in prompts]
    call_kwargs, hide = _with_usage(kwargs, body=True)
    return Request(
        name=rec.span_name("text_completion", kwargs.get("model")),
        kind=SpanKind.LLM,
        attributes=values,
        inputs=rec.inputs(kwargs, ("prompt", "suffix"), content),
        kwargs=call_kwargs,
        content=content,
        hide_usage=hide,
    )


def _completions_response(request: Request, result: Any) -> dict[str, Any]:
    data = rec.plain(result)
    if not isinstance(data, dict):
        return {}
    choices = data.get("choices") or []
    reasons = [c.get("finish_reason") for c in choices]
    values = rec.response_attributes(response_id=data.get("id"), model=data.get("model"), finish_reasons=reasons)
    values.update(_usage(data.get("usage")))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [
            {"role": "assistant", "parts": [rec.text_part(c.get("text"))], "finish_reason": c.get("finish_reason")}
            for c in choices
        ]
        values[attr.OUTPUTS] = to_json(data)
    return values


def _endpoints(module: str, names: tuple[str, str], methods: tuple[str, ...], **how: Any) -> list[Endpoint]:
    sync, async_ = names
    found = []
    for method in methods:
        found.append(Endpoint(module, f"{sync}.{method}", is_stream=_is_stream, **how))
        found.append(Endpoint(module, f"{async_}.{method}", is_stream=_is_stream, is_async=True, **how))
    return found


ENDPOINTS: list[Endpoint] = [
    *_endpoints(
        _CHAT,
        ("Completions", "AsyncCompletions"),
        ("create", "parse"),
        request=_chat_request,
        response=_chat_response,
        accumulator=ChatStream,
    ),
    *_endpoints(
        _RESPONSES,
        ("Responses", "AsyncResponses"),
        ("create", "parse"),
        request=responses_request,
        response=responses_response,
        accumulator=ResponsesStream,
    ),
    *_endpoints(
        _EMBEDDINGS,
        ("Embeddings", "AsyncEmbeddings"),
        ("create",),
        request=_embeddings_request,
        response=_embeddings_response,
    ),
    *_endpoints(
        _COMPLETIONS,
        ("Completions", "AsyncCompletions"),
        ("create",),
        request=_completions_request,
        response=_completions_response,
        accumulator=CompletionsStream,
    ),
]


def patch() -> Callable[[], None]:
    """Patch the installed OpenAI SDK; the function returned takes the patches off again."""
    installed = install(ENDPOINTS)
    return lambda: uninstall(installed)
