"""What to record for the Anthropic SDK.

Patched: ``messages.create`` and ``messages.parse`` (sync and async), and the ``messages.stream()`` helper, whose
request is only made when its manager is entered. The SDK can emit OTel spans of its own for the same call; while
one of our model spans is open the client's tracer is switched off, so one call gives exactly one model span.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._patch import Endpoint, Installed, Request, call_async, call_sync, in_model_call, install, uninstall

_MESSAGES = "anthropic.resources.messages.messages"
_PARAMS = {
    attr.GEN_AI_REQUEST_MAX_TOKENS: "max_tokens",
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop_sequences",
}
_PROVIDERS = {"Bedrock": "aws.bedrock", "Vertex": "gcp.vertex_ai"}


def _provider(instance: Any) -> str:
    name = type(getattr(instance, "_client", None)).__name__
    return next((p for marker, p in _PROVIDERS.items() if marker in name), "anthropic")


def _is_stream(result: Any) -> bool:
    from anthropic import AsyncStream, Stream

    return isinstance(result, (Stream, AsyncStream))


def _request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: "chat",
        attr.GEN_AI_PROVIDER_NAME: _provider(instance),
        **rec.request_attributes(kwargs, _PARAMS),
    }
    if rec.given(kwargs.get("model")):
        values[attr.GEN_AI_REQUEST_MODEL] = str(kwargs["model"])
    if rec.given(kwargs.get("tools")):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = rec.plain(kwargs["tools"])
    if rec.given(kwargs.get("output_format")) or rec.given(rec.get(kwargs.get("output_config"), "format")):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = [_message(m) for m in rec.plain(kwargs.get("messages")) or []]
        if rec.given(kwargs.get("system")):
            values[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = _parts(rec.plain(kwargs["system"]))
    return Request(
        name=rec.span_name("chat", kwargs.get("model")),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=rec.inputs(kwargs, ("messages", "system"), content),
        kwargs=kwargs,
        content=content,
    )


def _message(message: dict[str, Any]) -> dict[str, Any]:
    return {"role": message.get("role"), "parts": _parts(message.get("content"))}


def _parts(content: Any) -> list[Any]:
    """Anthropic content blocks as GenAI message parts; blocks without a counterpart are kept as they are."""
    if content is None:
        return []
    if isinstance(content, str):
        return [rec.text_part(content)]
    parts = []
    for block in content if isinstance(content, list) else [content]:
        kind = rec.get(block, "type")
        if kind == "text":
            parts.append(rec.text_part(block.get("text")))
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": block.get("thinking")})
        elif kind in ("tool_use", "server_tool_use"):
            parts.append(rec.tool_call_part(block.get("id"), block.get("name"), block.get("input")))
        elif kind == "tool_result":
            response = block.get("content")
            parts.append({"type": "tool_call_response", "id": block.get("tool_use_id"), "response": response})
        else:
            parts.append(block)
    return parts


def _response(request: Request, result: Any) -> dict[str, Any]:
    data = rec.plain(result)
    if not isinstance(data, dict):
        return {}
    stop = data.get("stop_reason")
    values = rec.response_attributes(response_id=data.get("id"), model=data.get("model"), finish_reasons=[stop])
    usage = data.get("usage") or {}
    cache_read = usage.get("cache_read_input_tokens")
    cache_creation = usage.get("cache_creation_input_tokens")
    inputs = usage.get("input_tokens")
    if isinstance(inputs, int):  # GenAI conventions count cached input too; Anthropic's input_tokens does not
        inputs += (cache_read or 0) + (cache_creation or 0)
    values.update(
        rec.usage_attributes(
            input_tokens=inputs,
            output_tokens=usage.get("output_tokens"),
            cache_read=cache_read,
            cache_creation=cache_creation,
        )
    )
    if request.content:
        message = {"role": data.get("role") or "assistant", "parts": _parts(data.get("content")), "finish_reason": stop}
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [message]
        values[attr.OUTPUTS] = to_json(data)
    return values


class _MessageStream:
    """Reassembles raw message stream events into the ``Message`` shape."""

    def __init__(self, request: Request, stream: Any) -> None:
        self._message: dict[str, Any] | None = None
        self._json: dict[int, str] = {}

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self._message = rec.plain(event.message)
            return
        message = self._message
        if message is None:
            return
        if kind == "content_block_start":
            message.setdefault("content", []).append(rec.plain(event.content_block))
        elif kind == "content_block_delta":
            self._delta(message, event.index, rec.plain(event.delta))
        elif kind == "content_block_stop" and event.index in self._json:
            block = rec.get(message, "content", event.index)
            if isinstance(block, dict):
                block["input"] = rec.parse_arguments(self._json.pop(event.index) or "{}")
        elif kind == "message_delta":
            message.update({k: v for k, v in rec.plain(event.delta).items() if v is not None})
            usage = {k: v for k, v in (rec.plain(event.usage) or {}).items() if v is not None}
            message["usage"] = {**(message.get("usage") or {}), **usage}

    def _delta(self, message: dict[str, Any], index: int, delta: dict[str, Any]) -> None:
        block = rec.get(message, "content", index)
        if not isinstance(block, dict):
            return
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = (block.get("text") or "") + delta.get("text", "")
        elif kind == "thinking_delta":
            block["thinking"] = (block.get("thinking") or "") + delta.get("thinking", "")
        elif kind == "signature_delta":
            block["signature"] = delta.get("signature")
        elif kind == "input_json_delta":
            self._json[index] = self._json.get(index, "") + delta.get("partial_json", "")

    def is_token(self, event: Any) -> bool:
        return getattr(event, "type", None) == "content_block_delta"

    def hide(self, event: Any) -> bool:
        return False

    def result(self) -> dict[str, Any] | None:
        return self._message


_CREATE: dict[str, Any] = {"request": _request, "response": _response, "accumulator": _MessageStream}
ENDPOINTS: list[Endpoint] = [
    Endpoint(_MESSAGES, "Messages.create", is_stream=_is_stream, **_CREATE),
    Endpoint(_MESSAGES, "AsyncMessages.create", is_stream=_is_stream, is_async=True, **_CREATE),
    Endpoint(_MESSAGES, "Messages.parse", is_stream=_is_stream, **_CREATE),
    Endpoint(_MESSAGES, "AsyncMessages.parse", is_stream=_is_stream, is_async=True, **_CREATE),
]
_STREAM_HELPERS: list[Endpoint] = [
    Endpoint(_MESSAGES, "Messages.stream", is_stream=_is_stream, **_CREATE),
    Endpoint(_MESSAGES, "AsyncMessages.stream", is_stream=_is_stream, is_async=True, **_CREATE),
]


def _stream_helper(endpoint: Endpoint) -> Callable[..., Any]:
    """``messages.stream()`` returns a manager and requests on ``__enter__``: trace that request, not this call."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)  # the user's call: once, outside our guard
        guard(_trace_manager, endpoint, manager, instance, {**kwargs, "stream": True})
        return manager

    return wrapper


def _trace_manager(endpoint: Endpoint, manager: Any, instance: Any, kwargs: dict[str, Any]) -> None:
    slot = f"_{type(manager).__name__}__api_request"
    request = getattr(manager, slot)  # private in the SDK: if it is renamed, guard logs it and nothing changes
    if endpoint.is_async:
        setattr(manager, slot, call_async(endpoint, instance, (), kwargs, lambda **_: request))
    else:
        setattr(manager, slot, lambda: call_sync(endpoint, instance, (), kwargs, lambda **_: request()))


def _tracer_off(client_class: type) -> Callable[[], None]:
    """Switch the SDK's own tracer off while our span records the call; returns the undo."""
    original = client_class.__dict__["_tracer"]

    def _tracer(self: Any) -> Any:
        return None if in_model_call() else original.__get__(self, type(self))

    client_class._tracer = property(_tracer, doc=original.__doc__)  # type: ignore[attr-defined]

    def undo() -> None:
        client_class._tracer = original  # type: ignore[attr-defined]

    return undo


def _base_client() -> type | None:
    from anthropic import _base_client

    cls = getattr(_base_client, "BaseClient", None)
    return cls if isinstance(cls, type) and isinstance(cls.__dict__.get("_tracer"), property) else None


def patch() -> Callable[[], None]:
    """Patch the installed Anthropic SDK; the function returned takes the patches off again."""
    installed: list[Installed] = install(ENDPOINTS) + install(_STREAM_HELPERS, _stream_helper)
    client_class = guard(_base_client)
    restore_tracer = guard(_tracer_off, client_class) if client_class is not None else None

    def undo() -> None:
        uninstall(installed)
        if restore_tracer is not None:
            guard(restore_tracer)

    return undo
