"""What to record for Cohere's v2 API (``cohere.ClientV2``, ``AsyncClientV2``, and ``client.v2`` of the v1 client):
``chat``, ``chat_stream``, ``embed`` and ``rerank``.

Patched on the raw v2 clients every v2 call goes through, not on ``V2Client``: a Cohere client copies its own
``chat`` and ``chat_stream`` into the instance when it is made, so a class patch would miss the clients made before
``autolog()`` and keep tracing those made while it was on after it is switched off. ``chat_stream`` on the raw client
is a context manager that requests when entered and yields the typed v2 events from its response's ``data``.
Token counts are the billed ones (``usage.billed_units``); ``usage.tokens`` also counts Cohere's own prompt template.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import wrapt

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard, internal_error
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._patch import Endpoint, Installed, Request, call_async, call_sync, install, uninstall

_RAW = "cohere.v2.raw_client"
_PARAMS = {
    attr.GEN_AI_REQUEST_MAX_TOKENS: "max_tokens",
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "p",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop_sequences",
}
_TRANSPORT = ("request_options",)  # timeouts, retries and extra headers: not the request, and may carry credentials


def _data(result: Any) -> Any:
    """The parsed body of a raw client's ``HttpResponse``; a stream's folded dict as it is."""
    return result if isinstance(result, dict) else getattr(result, "data", None)


def _given(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments the caller gave: the v2 client passes every parameter on, ``...`` (Fern's ``OMIT``) for those
    left out."""
    return {k: v for k, v in kwargs.items() if v is not ... and v is not None and k not in _TRANSPORT}


def _base(kwargs: dict[str, Any], operation: str, kind: SpanKind, content: bool, *keys: str) -> Request:
    given = _given(kwargs)
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: operation,
        attr.GEN_AI_PROVIDER_NAME: "cohere",
        **rec.request_attributes(given, _PARAMS),
    }
    if rec.given(given.get("model")):
        values[attr.GEN_AI_REQUEST_MODEL] = str(given["model"])
    return Request(
        name=rec.span_name(operation, given.get("model")),
        kind=kind,
        attributes=values,
        inputs=rec.inputs(given, keys, content),
        kwargs=kwargs,
        content=content,
    )


# chat and chat_stream -------------------------------------------------------------------------------------------


def _chat_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    request = _base(kwargs, "chat", SpanKind.CHAT_MODEL, content, "messages", "documents")
    values, given = request.attributes, _given(kwargs)
    if given.get("tools"):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = _tool_definitions(given["tools"])
    if rec.get(rec.plain(given.get("response_format")), "type") == "json_object":
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = [_message(rec.plain(m)) for m in given.get("messages") or []]
    return request


def _tool_definitions(tools: Any) -> list[Any]:
    """v2 tools (``{"type": "function", "function": {…}}``) as the GenAI convention's flat ones."""
    definitions = []
    for tool in rec.plain(tools) or []:
        function = rec.get(tool, "function")
        definitions.append({"type": "function", **function} if isinstance(function, dict) else tool)
    return definitions


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A v2 message, plain, in the GenAI shape: text, thinking, the tool plan, tool calls, or a tool's result."""
    role = message.get("role")
    if role == "tool":
        response = message.get("content")
        part = {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": response}
        return {"role": role, "parts": [part]}
    parts = []
    if message.get("tool_plan"):
        parts.append({"type": "reasoning", "content": message["tool_plan"]})
    parts.extend(_content(message.get("content")))
    for call in message.get("tool_calls") or []:
        function = rec.get(call, "function") or {}
        parts.append(rec.tool_call_part(rec.get(call, "id"), function.get("name"), function.get("arguments")))
    return {"role": role, "parts": parts}


def _content(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [rec.text_part(content)]
    parts = []
    for item in content:
        kind = rec.get(item, "type")
        if kind == "text":
            parts.append(rec.text_part(item.get("text")))
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": item.get("thinking")})
        else:
            parts.append(item)  # images and documents, kept as they are
    return parts


def _usage(usage: Any) -> dict[str, int]:
    billed, cached = rec.fields(usage, "billed_units", "cached_tokens")
    return rec.usage_attributes(
        input_tokens=_count(rec.field(billed, "input_tokens")),
        output_tokens=_count(rec.field(billed, "output_tokens")),
        cache_read=_count(cached) or None,
    )


def _count(value: Any) -> int | None:
    """Cohere sends its token counts as floats (``12.0``)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _chat_response(request: Request, result: Any) -> dict[str, Any]:
    data = _data(result)
    if data is None:
        return {}
    response_id, reason, message, usage = rec.fields(data, "id", "finish_reason", "message", "usage")
    values = rec.response_attributes(response_id=response_id, model=None, finish_reasons=[reason])
    values.update(_usage(usage))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [{**_message(rec.plain(message) or {}), "finish_reason": reason}]
        values[attr.OUTPUTS] = rec.json_text(data)
    return values


class _ChatStream:
    """Folds the v2 stream events into the ``V2ChatResponse`` shape."""

    def __init__(self, request: Request, stream: Any) -> None:
        self._whole: dict[str, Any] | None = None
        self._message: dict[str, Any] = {"role": "assistant", "content": [], "tool_calls": []}

    def add(self, event: Any) -> None:
        kind = rec.field(event, "type")
        index = rec.field(event, "index")
        delta = rec.field(event, "delta")
        message = self._message
        if kind == "message-start":
            self._whole = {"id": rec.field(event, "id")}
        elif kind == "content-start":
            message["content"].append(rec.plain(rec.field(rec.field(delta, "message"), "content")) or {})
        elif kind == "content-delta":
            piece = rec.plain(rec.field(rec.field(delta, "message"), "content")) or {}
            item = rec.get(message, "content", index if isinstance(index, int) else -1)
            for name in ("text", "thinking"):
                if isinstance(item, dict) and piece.get(name):
                    item[name] = (item.get(name) or "") + piece[name]
        elif kind == "tool-plan-delta":
            plan = rec.field(rec.field(delta, "message"), "tool_plan") or ""
            message["tool_plan"] = message.get("tool_plan", "") + plan
        elif kind == "tool-call-start":
            message["tool_calls"].append(rec.plain(rec.field(rec.field(delta, "message"), "tool_calls")) or {})
        elif kind == "tool-call-delta":
            calls = rec.field(rec.field(delta, "message"), "tool_calls")
            piece = rec.field(rec.field(calls, "function"), "arguments") or ""
            function = rec.get(message, "tool_calls", index if isinstance(index, int) else -1, "function")
            if isinstance(function, dict):
                function["arguments"] = (function.get("arguments") or "") + piece
        elif kind == "message-end":
            ending = rec.plain(delta) or {}
            self._whole = {**(self._whole or {}), **{k: v for k, v in ending.items() if v is not None}}

    def is_token(self, event: Any) -> bool:
        return rec.field(event, "type") in ("content-delta", "tool-plan-delta", "tool-call-start")

    def hide(self, event: Any) -> bool:
        return False

    def result(self) -> dict[str, Any] | None:
        if self._whole is None:
            return None
        message = {k: v for k, v in self._message.items() if v}
        return rec.Plain({**self._whole, "message": {"role": "assistant", **message}})


class _StreamManager(wrapt.ObjectProxy):  # type: ignore[type-arg]  # wrapt 1 cannot subscript it at runtime
    """The raw ``chat_stream``'s context manager: the call's span starts when it is entered (the request) and ends
    with the events of its response's ``data``, or when the block is left, whichever comes first."""

    _self_call: tuple[Endpoint, Any, dict[str, Any]]
    _self_data: Any

    def __init__(self, wrapped: Any, endpoint: Endpoint, instance: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(wrapped)
        self._self_call = (endpoint, instance, kwargs)
        self._self_data = None

    def _entered(self, response: Any, data: Any) -> Any:
        if data is response.data:
            return response  # not traced (a call inside another model call): the SDK's own response
        self._self_data = data
        return guard(_Response, response, data) or response

    def __enter__(self) -> Any:
        entered: list[Any] = []

        def enter(**_: Any) -> Any:
            entered.append(self.__wrapped__.__enter__())
            return entered[0].data

        data = call_sync(*self._self_call[:2], (), self._self_call[2], enter)
        return self._entered(entered[0], data)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            if self._self_data is not None:
                guard(self._self_data.close)  # ends the span if the events were not all read

    async def __aenter__(self) -> Any:
        entered: list[Any] = []

        async def enter(**_: Any) -> Any:
            entered.append(await self.__wrapped__.__aenter__())
            return entered[0].data

        data = await call_async(*self._self_call[:2], (), self._self_call[2], enter)
        return self._entered(entered[0], data)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            if self._self_data is not None:
                try:
                    await self._self_data.aclose()  # ends the span if the events were not all read
                except Exception:
                    internal_error(self._self_data.aclose)


class _Response(wrapt.ObjectProxy):  # type: ignore[type-arg]  # wrapt 1 cannot subscript it at runtime
    """The SDK's ``HttpResponse`` with the events proxied: its span ends with them."""

    _self_data: Any

    def __init__(self, wrapped: Any, data: Any) -> None:
        super().__init__(wrapped)
        self._self_data = data

    @property
    def data(self) -> Any:
        return self._self_data


def _stream_manager(endpoint: Endpoint) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)  # the user's call; nothing is requested until the manager is entered
        return guard(_StreamManager, manager, endpoint, instance, kwargs) or manager

    return wrapper


def _is_stream(result: Any) -> bool:
    return hasattr(type(result), "__next__") or hasattr(type(result), "__anext__")


# embed and rerank -----------------------------------------------------------------------------------------------


def _embed_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    request = _base(kwargs, "embeddings", SpanKind.EMBEDDING, content, "texts", "images", "inputs")
    if types := _given(kwargs).get("embedding_types"):
        request.attributes[attr.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(t) for t in types]
    return request


def _embed_response(request: Request, result: Any) -> dict[str, Any]:
    data = rec.plain(_data(result)) or {}
    meta = data.get("meta") or {}
    values = rec.response_attributes(response_id=data.get("id"), model=None, finish_reasons=[])
    values.update(rec.usage_attributes(input_tokens=_count(rec.get(meta, "billed_units", "input_tokens"))))
    if request.content:  # the vectors themselves would only bloat the store: record their shape
        shapes = {
            kind: [{"index": i, "dimensions": len(v)} for i, v in enumerate(vectors)]
            for kind, vectors in (data.get("embeddings") or {}).items()
            if isinstance(vectors, list)
        }
        values[attr.OUTPUTS] = to_json({"id": data.get("id"), "embeddings": shapes, "meta": meta})
    return values


def _rerank_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    request = _base(kwargs, "rerank", SpanKind.RERANKER, content, "query", "documents")
    if content and request.inputs is not None:  # as retrievers' documents are: what the viewer shows as documents
        documents = _given(kwargs).get("documents") or []
        request.inputs["documents"] = [{"id": i, "content": text} for i, text in enumerate(documents)]
    return request


def _rerank_response(request: Request, result: Any) -> dict[str, Any]:
    data = _data(result)
    response_id, results = rec.fields(data, "id", "results")
    values = rec.response_attributes(response_id=response_id, model=None, finish_reasons=[])
    documents = _given(request.kwargs).get("documents") or []
    ranked = []
    for item in results or []:  # best first, each with its index among the documents sent
        index, score = rec.fields(item, "index", "relevance_score")
        document: dict[str, Any] = {"id": index, "score": score}
        if request.content and isinstance(index, int) and 0 <= index < len(documents):
            document["content"] = documents[index]
        ranked.append(document)
    values[attr.OUTPUTS] = to_json(ranked)
    return values


def _endpoints(method: str, request: Any, response: Any, **how: Any) -> list[Endpoint]:
    return [
        Endpoint(_RAW, f"RawV2Client.{method}", request, response, **how),
        Endpoint(_RAW, f"AsyncRawV2Client.{method}", request, response, is_async=True, **how),
    ]


ENDPOINTS: list[Endpoint] = [
    *_endpoints("chat", _chat_request, _chat_response),
    *_endpoints("embed", _embed_request, _embed_response),
    *_endpoints("rerank", _rerank_request, _rerank_response),
]
_STREAMS = _endpoints("chat_stream", _chat_request, _chat_response, accumulator=_ChatStream, is_stream=_is_stream)


def patch() -> Callable[[], None]:
    """Patch the installed Cohere SDK's v2 API; the function returned takes the patches off again."""
    installed: list[Installed] = install(ENDPOINTS) + install(_STREAMS, _stream_manager)
    return lambda: uninstall(installed)
