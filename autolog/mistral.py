"""What to record for Mistral's SDK (``mistralai`` 2 and later, whose client lives in ``mistralai.client``).

Patched: ``chat.complete``, ``chat.stream`` and their ``_async`` twins (``chat.parse`` calls ``complete``), and
``embeddings.create`` / ``create_async``. Mistral's chat is OpenAI's shape (messages, tools, tool calls, usage with
``prompt_tokens_details.cached_tokens`` counted in ``prompt_tokens``), so the OpenAI readers read it; its stream is
its own ``EventStream`` of ``CompletionEvent``s whose ``data`` is the chunk.

The SDK can trace itself (``MISTRAL_SDK_TELEMETRY``): onto the global OTel provider, where our spans may go too, it
stands aside while one of our model spans records the call, so one call is one span; its own dedicated provider
(Mistral's backend) is left alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeGuard

import wrapt

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_shapes import chat_request, chat_response, token_counts
from ._openai_stream import ChatStream
from ._patch import Endpoint, Installed, Request, in_model_call, install, uninstall

_CHAT = "mistralai.client.chat"
_EMBEDDINGS = "mistralai.client.embeddings"
_TRACING_HOOK = "mistralai.client._hooks.tracing"
_GET_TRACER = "get_or_create_otel_tracer"
_PROVIDER = "mistral_ai"
# Each method's own transport options: not the request, and ``http_headers`` is where a per-call key would go.
_TRANSPORT = frozenset({"http_headers", "retries", "server_url", "timeout_ms"})
_PARAMS = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_MAX_TOKENS: "max_tokens",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
    attr.GEN_AI_REQUEST_CHOICE_COUNT: "n",
}


@functools.cache
def _stream_types() -> tuple[type, ...]:
    from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync

    return (EventStream, EventStreamAsync)


def _is_stream(result: Any) -> bool:
    return isinstance(result, _stream_types())


def _base(kwargs: dict[str, Any], operation: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: operation,
        attr.GEN_AI_PROVIDER_NAME: _PROVIDER,
        **rec.request_attributes(kwargs, _PARAMS),
    }
    if rec.given(kwargs.get("model")):
        values[attr.GEN_AI_REQUEST_MODEL] = str(kwargs["model"])
    return values


def _inputs(kwargs: dict[str, Any], content_keys: tuple[str, ...], content: bool) -> dict[str, Any]:
    return rec.inputs({k: v for k, v in kwargs.items() if k not in _TRANSPORT}, content_keys, content)


def _chat_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    return chat_request(_base(kwargs, "chat"), kwargs, content, _inputs(kwargs, ("messages",), content))


def _chat_response(request: Request, result: Any) -> dict[str, Any]:
    # Dumped first: the SDK's fields left unset hold an ``Unset`` object, which the dump drops.
    data = result if isinstance(result, dict) else rec.plain(result)
    values = chat_response(request, data)
    if request.content and any(_thinking(rec.get(c, "message", "content")) for c in rec.get(data, "choices") or ()):
        # Read again with thinking as GenAI reasoning parts; the outputs keep the response as Mistral sent it.
        shown = {**data, "choices": [_with_reasoning(c) for c in data["choices"]]}
        values[attr.GEN_AI_OUTPUT_MESSAGES] = chat_response(request, shown)[attr.GEN_AI_OUTPUT_MESSAGES]
    return values


def _thinking(content: Any) -> TypeGuard[list[Any]]:
    return isinstance(content, list) and any(rec.get(c, "type") == "thinking" for c in content)


def _with_reasoning(choice: dict[str, Any]) -> dict[str, Any]:
    message = choice.get("message") or {}
    content = message.get("content")
    if not _thinking(content):
        return choice
    parts = [
        {"type": "reasoning", "content": "".join(_texts(c.get("thinking") or []))} if c.get("type") == "thinking" else c
        for c in content
    ]
    return {**choice, "message": {**message, "content": parts}}


class _MistralStream(ChatStream):
    """Folds ``CompletionEvent``s: their ``data`` is an OpenAI-shaped chunk, but a delta's content may be a list of
    chunks (text, thinking) and a tool call comes whole, its arguments text or an object. The thinking is given
    back as a non-streamed response carries it: a thinking chunk before the text."""

    def __init__(self, request: Request, stream: Any) -> None:
        super().__init__(request, stream)
        self._thinking: dict[int, list[str]] = {}

    def add(self, event: Any) -> None:
        super().add(rec.field(event, "data"))

    def is_token(self, event: Any) -> bool:
        for choice in rec.field(rec.field(event, "data"), "choices") or ():
            delta = choice.delta
            if delta.content or delta.tool_calls:
                return True
        return False

    def _add_choice(self, choice: Any) -> None:
        index, delta, finish_reason = rec.fields(choice, "index", "delta", "finish_reason")
        content, calls = rec.fields(delta, "content", "tool_calls")
        if isinstance(content, list) or calls:
            # Whole calls, numbered after those already folded: their ``index`` is not always set (it defaults to 0).
            first = len(self._calls.get(index) or ())
            if isinstance(content, list):
                for chunk in content:
                    if rec.field(chunk, "type") == "thinking":
                        self._thinking.setdefault(index, []).extend(_texts(rec.field(chunk, "thinking") or []))
            delta = {
                "role": rec.field(delta, "role"),
                "content": "".join(_texts(content)) if isinstance(content, list) else content,
                "tool_calls": [_call(first + i, call) for i, call in enumerate(calls or ())],
            }
            choice = {"index": index, "delta": delta, "finish_reason": finish_reason}
        super()._add_choice(choice)

    def result(self) -> dict[str, Any] | None:
        data = super().result()
        for choice in (data or {}).get("choices") or ():
            thinking = self._thinking.get(choice["index"])
            if thinking:
                message = choice["message"]
                text = message.get("content")
                thought = {"type": "thinking", "thinking": [{"type": "text", "text": "".join(thinking)}]}
                message["content"] = [thought, *([{"type": "text", "text": text}] if text else [])]
        return data


def _texts(chunks: list[Any]) -> list[str]:
    """The text chunks' text: what a plain string content would have said (thinking is left out)."""
    return [text for text in (rec.field(c, "text") for c in chunks) if isinstance(text, str)]


def _call(index: int, call: Any) -> dict[str, Any]:
    """A whole tool call as a first and only fragment, its arguments as text."""
    function = rec.field(call, "function")
    name, arguments = rec.fields(function, "name", "arguments")
    text = arguments if isinstance(arguments, str) else to_json(rec.plain(arguments))
    return {"index": index, "id": rec.field(call, "id"), "function": {"name": name, "arguments": text}}


def _embeddings_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = _base(kwargs, "embeddings")
    if rec.given(kwargs.get("encoding_format")):
        values[attr.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(kwargs["encoding_format"])]
    return Request(
        name=rec.span_name("embeddings", kwargs.get("model")),
        kind=SpanKind.EMBEDDING,
        attributes=values,
        inputs=_inputs(kwargs, ("inputs",), content),
        kwargs=kwargs,
        content=content,
    )


def _embeddings_response(request: Request, result: Any) -> dict[str, Any]:
    response_id, model, usage, data = rec.fields(result, "id", "model", "usage", "data")
    values = rec.response_attributes(response_id=response_id, model=model, finish_reasons=[])
    values.update(token_counts(usage))
    values.pop(attr.GEN_AI_USAGE_OUTPUT_TOKENS, None)  # an embedding has no output tokens; the API says 0
    if request.content:  # the vectors themselves would only bloat the store: record their shape
        vectors = [{"index": e.index, "dimensions": len(e.embedding or ())} for e in data or ()]
        values[attr.OUTPUTS] = to_json({"model": model, "data": vectors, "usage": rec.plain(usage)})
    return values


_CHAT_HOW: dict[str, Any] = {"request": _chat_request, "response": _chat_response, "is_stream": _is_stream}
_STREAM_HOW: dict[str, Any] = {**_CHAT_HOW, "accumulator": _MistralStream}
_EMBED_HOW: dict[str, Any] = {"request": _embeddings_request, "response": _embeddings_response}
ENDPOINTS: list[Endpoint] = [
    Endpoint(_CHAT, "Chat.complete", **_CHAT_HOW),
    Endpoint(_CHAT, "Chat.complete_async", **_CHAT_HOW, is_async=True),
    Endpoint(_CHAT, "Chat.stream", **_STREAM_HOW),
    Endpoint(_CHAT, "Chat.stream_async", **_STREAM_HOW, is_async=True),
    Endpoint(_EMBEDDINGS, "Embeddings.create", **_EMBED_HOW),
    Endpoint(_EMBEDDINGS, "Embeddings.create_async", **_EMBED_HOW, is_async=True),
]


def _sdk_tracer(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The SDK's tracing hook asks for its tracer on each request: none (``provider=None``: the global one) while
    our span records the call."""
    provider = kwargs.get("provider", args[0] if args else None)
    if provider is None and in_model_call():
        from opentelemetry.trace import NoOpTracer

        return False, NoOpTracer()  # (tracing enabled, tracer), as the SDK's function returns them
    return wrapped(*args, **kwargs)


def patch() -> Callable[[], None]:
    """Patch the installed Mistral SDK; the function returned takes the patches off again."""
    installed = install(ENDPOINTS)
    handle = guard(wrapt.wrap_function_wrapper, _TRACING_HOOK, _GET_TRACER, _sdk_tracer)
    if handle is not None:
        installed.append(Installed(_TRACING_HOOK, _GET_TRACER, handle))
    return lambda: uninstall(installed)
