"""The guarded wrapper every autolog integration shares: one span per SDK call, the call itself untouched.

An integration describes an SDK method as an ``Endpoint`` (where it lives, how to read its arguments, how to read
its result, how to fold a stream); this module does the rest the same way for all of them. The user's call runs
exactly once, outside ``guard``; whatever we fail at is logged and swallowed (or raised under SPANLITE_STRICT=1).
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard, internal_error
from spanlite.tracing._late import read_later
from spanlite.tracing._provider import capture_content
from spanlite.tracing._sdk_attributes import set_valid_attributes
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json
from spanlite.tracing.span import Span, close_span, otel_values, start_otel_span

from ._stream import Accumulator, wrap_stream

# Both SDKs (Stainless-generated) mark with_raw_response / with_streaming_response calls with this header.
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
_in_call: contextvars.ContextVar[bool] = contextvars.ContextVar("spanlite_autolog_in_call", default=False)


class OuterCall:
    """A model call a framework integration (LangChain) records itself; SDK calls made inside it stand aside.

    It lives in a ContextVar that a framework's callbacks set but cannot always reset (they may end in another
    context), so what counts is whether the call is still ``open``: a left-over marker of an ended call is inert.
    """

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = True


_outer: contextvars.ContextVar[OuterCall | None] = contextvars.ContextVar("spanlite_autolog_outer", default=None)


def in_model_call() -> bool:
    """True while a patched SDK call or a framework's model call runs: nested patched calls and the SDK's own
    tracing stand aside, so one model call is one model span and its tokens are counted once."""
    if _in_call.get():
        return True
    outer = _outer.get()
    return outer is not None and outer.open


def enter_outer_call(call: OuterCall) -> contextvars.Token[OuterCall | None]:
    """Mark the current context as inside ``call`` (see ``OuterCall``)."""
    return _outer.set(call)


def leave_outer_call(call: OuterCall, token: contextvars.Token[OuterCall | None]) -> None:
    """Close ``call``; restore the marker too when we are still in the context that set it."""
    call.open = False
    try:
        _outer.reset(token)
    except (ValueError, RuntimeError):
        pass  # ended in another context (a task, a closed generator): the closed marker is inert there


class _SyncView(wrapt.ObjectProxy):  # type: ignore[type-arg]  # wrapt 1 cannot subscript it at runtime
    """A stream that iterates both ways (LiteLLM's), seen through a sync call: proxied as the sync stream it is."""

    def __next__(self) -> Any:
        return self.__wrapped__.__next__()


@dataclasses.dataclass
class Request:
    """What an integration read from one call's arguments, and the arguments to make the call with."""

    name: str
    kind: SpanKind
    attributes: dict[str, Any]
    inputs: dict[str, Any] | None
    kwargs: dict[str, Any]
    content: bool = True
    raw: bool = False
    hide_usage: bool = False  # we asked the API for a usage-only stream item the caller must not see


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One SDK method to patch and how to record it; an integration module is mostly a list of these."""

    module: str
    attribute: str  # dotted, e.g. "Completions.create"
    request: Callable[[Any, tuple[Any, ...], dict[str, Any], bool], Request]  # (instance, args, kwargs, content)
    response: Callable[[Request, Any], dict[str, Any]]  # the attributes to record for a result
    accumulator: Callable[[Request, Any], Accumulator] | None = None  # (request, the SDK's stream)
    is_stream: Callable[[Any], bool] = lambda result: False
    is_async: bool = False
    error_status: Callable[[BaseException], Any] | None = None  # an SDK error's HTTP status, if not ``status_code``


class ModelCall:
    """A guarded handle on one call's span: whichever of finish or fail comes first ends it, the rest do nothing."""

    __slots__ = ("_claim", "endpoint", "request", "span")

    def __init__(self, endpoint: Endpoint, request: Request, span: Span) -> None:
        self.endpoint = endpoint
        self.request = request
        self.span = span
        # A lock taken once and never released: only the first claim gets it, atomically, even when a stream
        # ends from the garbage collector on another thread. Called without a Python frame of our own.
        self._claim = threading.Lock().acquire

    def claim(self) -> bool:
        return self._claim(False)

    def _set(self, values: dict[str, Any]) -> None:
        """Set all of a call's attributes at once: each ``set_attribute(s)`` is a lock and a pass in the OTel SDK."""
        set_valid_attributes(self.span.otel_span, otel_values(values))

    def finish(self, result: Any) -> Any:
        """Record ``result`` and end the span; a stream is handed back wrapped so its span ends with it.

        The response is read after the span ends, on the export thread (``_late``), where it can be.
        """
        if not self.request.raw and self.endpoint.accumulator is not None and self.endpoint.is_stream(result):
            accumulator = self.endpoint.accumulator(self.request, result)
            if not self.endpoint.is_async and hasattr(type(result), "__anext__"):
                result = _SyncView(result)
            return wrap_stream(result, self, accumulator)
        if not self._claim(False):
            return result

        def response() -> dict[str, Any]:
            return otel_values(self.endpoint.response(self.request, result))

        span = self.span.otel_span
        try:
            if self.request.raw:
                self._set(_status_attributes(result))
            elif not read_later(span, response):
                set_valid_attributes(span, response())
        finally:
            span.end()
        return result

    def finish_stream(self, accumulator: Accumulator, exc: BaseException | None, closed_early: bool) -> None:
        """End a stream's span with what it carried so far, once, however the stream ended."""
        if not self._claim(False):
            return

        def response() -> dict[str, Any]:
            return self.endpoint.response(self.request, accumulator.result())

        values: dict[str, Any] = {attr.STREAM: True, attr.STREAM_CLOSED_EARLY: closed_early}
        try:
            if not read_later(self.span.otel_span, lambda: otel_values(response())):
                values.update(response())  # made valid with the rest, by ``_set``
        finally:
            if exc is not None:
                values.update(_error_attributes(exc, self.endpoint))
            try:
                self._set(values)
            finally:
                close_span(self.span.otel_span, None, exc)

    def end(self) -> None:
        """End the span with nothing more recorded: the fallback when recording itself failed."""
        if self.claim():
            close_span(self.span.otel_span, None, None)

    def fail(self, exc: BaseException) -> None:
        if not self.claim():
            return
        try:
            self._set(_error_attributes(exc, self.endpoint))
        finally:
            close_span(self.span.otel_span, None, exc)


def _error_attributes(exc: BaseException, endpoint: Endpoint) -> dict[str, Any]:
    values = {attr.ERROR_TYPE: type(exc).__qualname__, **_status_attributes(exc)}
    status = endpoint.error_status(exc) if endpoint.error_status is not None else None
    if isinstance(status, int) and not isinstance(status, bool):
        values[attr.HTTP_RESPONSE_STATUS_CODE] = status
    return values


def _status_attributes(response: Any) -> dict[str, Any]:
    """The HTTP status of an SDK error, or of a ``with_raw_response`` call, whose body is the caller's to read."""
    status = getattr(response, "status_code", None)
    return {attr.HTTP_RESPONSE_STATUS_CODE: status} if isinstance(status, int) else {}


def _is_raw(kwargs: dict[str, Any]) -> bool:
    headers = kwargs.get("extra_headers")
    return isinstance(headers, dict) and _RAW_RESPONSE_HEADER in headers


def _start(
    endpoint: Endpoint, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[ModelCall, dict[str, Any], tuple[object, contextvars.Token[bool]]]:
    raw = _is_raw(kwargs)
    request = endpoint.request(instance, args, kwargs, capture_content())
    request.raw = raw
    if raw:  # the caller parses the body; anything we asked for would reach them unhidden
        request.kwargs, request.hide_usage = kwargs, False
    # What open_span() does, less its copies: the kind's ``_value_`` is the plain attribute behind the ``value``
    # property, and the inputs are given at start with the rest (set later, they cost another round in OTel).
    values = {attr.SPAN_KIND: request.kind._value_}
    values.update(otel_values(request.attributes))
    if request.inputs is not None:
        values[attr.INPUTS] = to_json(request.inputs)
    otel_span = start_otel_span(request.name, values)
    span = Span(otel_span)
    # Active during the call so that spans the SDK's transport makes nest under ours.
    tokens = (otel_context.attach(otel_trace.set_span_in_context(otel_span)), _in_call.set(True))
    return ModelCall(endpoint, request, span), request.kwargs, tokens


def _leave(tokens: tuple[object, contextvars.Token[bool]]) -> None:
    _in_call.reset(tokens[1])
    otel_context.detach(tokens[0])  # type: ignore[arg-type]


def _result(call: ModelCall, tokens: tuple[object, contextvars.Token[bool]], result: Any) -> Any:
    """Leave the call's context and record ``result``, each step guarded on its own; ``guard`` is inlined here,
    on the path of every successful call."""
    try:
        _leave(tokens)
    except Exception:
        internal_error(_leave)
    try:
        return call.finish(result)
    except Exception:
        internal_error(call.finish)
    guard(call.end)
    return result


def call_sync(
    endpoint: Endpoint, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], fn: Callable[..., Any]
) -> Any:
    """Run ``fn(*args, **kwargs)`` once inside a model span; the sync half of every patch."""
    if in_model_call():
        return fn(*args, **kwargs)
    started = guard(_start, endpoint, instance, args, kwargs)
    if started is None:
        return fn(*args, **kwargs)
    call, call_kwargs, tokens = started
    try:
        result = fn(*args, **call_kwargs)  # the user's call: once, outside our guard
    except BaseException as exc:
        guard(_leave, tokens)
        guard(call.fail, exc)
        raise  # their error, unchanged
    return _result(call, tokens, result)


async def call_async(
    endpoint: Endpoint,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    fn: Callable[..., Awaitable[Any]],
) -> Any:
    """The async twin of ``call_sync``, line for line."""
    if in_model_call():
        return await fn(*args, **kwargs)
    started = guard(_start, endpoint, instance, args, kwargs)
    if started is None:
        return await fn(*args, **kwargs)
    call, call_kwargs, tokens = started
    try:
        result = await fn(*args, **call_kwargs)  # the user's call: once, outside our guard
    except BaseException as exc:
        guard(_leave, tokens)
        guard(call.fail, exc)
        raise  # their error, unchanged
    return _result(call, tokens, result)


def _wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    if endpoint.is_async:

        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return await call_async(endpoint, instance, args, kwargs, wrapped)

        return async_wrapper

    def sync_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return call_sync(endpoint, instance, args, kwargs, wrapped)

    return sync_wrapper


@dataclasses.dataclass(frozen=True)
class Installed:
    """One applied patch, enough to take it off again."""

    module: str
    attribute: str
    handle: Any


def install(endpoints: list[Endpoint], wrapper: Callable[[Endpoint], Callable[..., Any]] = _wrapper) -> list[Installed]:
    """Patch each endpoint's method; one that is missing from this SDK version is skipped, not fatal."""
    done: list[Installed] = []
    for endpoint in endpoints:
        handle = guard(wrapt.wrap_function_wrapper, endpoint.module, endpoint.attribute, wrapper(endpoint))
        if handle is not None:
            done.append(Installed(endpoint.module, endpoint.attribute, handle))
    return done


def uninstall(installed: list[Installed]) -> None:
    """Restore the original methods."""
    for item in installed:
        guard(_unwrap, item)


def _unwrap(item: Installed) -> None:
    import sys

    module = sys.modules.get(item.module)
    if module is not None:
        wrapt.unwrap_object(module, item.attribute, item.handle, missing_ok=True)
