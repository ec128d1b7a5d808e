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
from ._openai_shapes import base_attributes, chat_request, chat_response, token_counts, with_usage
from ._openai_stream import ChatStream, CompletionsStream
from ._patch import Endpoint, Request, install, uninstall

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"
_COMPLETIONS = "openai.resources.completions"


@functools.cache
def _stream_types() -> tuple[type, ...]:
    from openai import AsyncStream, Stream  # once: an import statement costs a lookup through importlib each time

    return (Stream, AsyncStream)


def _is_stream(result: Any) -> bool:
    return isinstance(result, _stream_types())


# chat.completions ------------------------------------------------------------------------------------------------


def _chat_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = base_attributes(instance, kwargs, "chat", ("max_completion_tokens", "max_tokens"))
    request = chat_request(values, kwargs, content, rec.inputs(kwargs, ("messages",), content))
    request.kwargs, request.hide_usage = with_usage(kwargs, body=True)
    return request


# embeddings and legacy completions ------------------------------------------------------------------------------


def _embeddings_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = base_attributes(instance, kwargs, "embeddings", ())
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
    values = base_attributes(instance, kwargs, "text_completion", ("max_tokens",))
    if content:
        prompt = kwargs.get("prompt")
        prompts = prompt if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt) else [prompt]
        values[attr.GEN_AI_INPUT_MESSAGES] = [{"role": "user", "parts": [rec.text_part(p)]} for p in prompts]
    call_kwargs, hide = with_usage(kwargs, body=True)
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
    values.update(token_counts(data.get("usage")))
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
        response=chat_response,
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
