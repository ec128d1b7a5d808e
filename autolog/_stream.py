"""A transparent proxy over an SDK stream that ends the call's span exactly once, however the stream ends.

Exhaustion, an error while reading, ``close()``, leaving a ``with`` block, an early ``break`` followed by either of
those, or the stream simply being dropped (garbage collection): each ends the span, the first one wins. The proxy is
a ``wrapt.ObjectProxy``, so ``isinstance`` checks and every attribute of the SDK's stream keep working. Stream
helpers (``chat.completions.stream()``, ``responses.stream()``) close the HTTP response rather than the stream, so
``response`` is proxied as well and closing it ends the span too.
"""

from __future__ import annotations

import atexit
import weakref
from types import TracebackType
from typing import Any, Protocol

import wrapt

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard, internal_error
from spanlite.tracing._sdk_attributes import add_plain_event
from spanlite.tracing.span import Span


class Accumulator(Protocol):
    """Folds the items of a stream into the result a non-streamed call would have given."""

    def add(self, item: Any) -> None: ...
    def is_token(self, item: Any) -> bool: ...
    def hide(self, item: Any) -> bool: ...
    def result(self) -> Any: ...


class StreamCall(Protocol):
    """The call a stream belongs to (``_patch.ModelCall``), as far as the proxy needs it: declared here, not
    imported, so that ``_patch`` uses this module and nothing here reaches back."""

    @property
    def span(self) -> Span: ...

    def finish_stream(self, accumulator: Accumulator, exc: BaseException | None, closed_early: bool) -> None: ...


class _StreamState:
    """What the proxies share; holds no reference to a proxy, so dropping the proxy can end the span."""

    __slots__ = ("accumulator", "call", "first_token_seen", "watch")

    def __init__(self, call: StreamCall, accumulator: Accumulator) -> None:
        self.call = call
        self.accumulator = accumulator
        self.first_token_seen = False
        self.watch: weakref.ref[Any] | None = None  # the proxy's key in _open

    def item(self, item: Any) -> bool:
        """Fold one item in; ``True`` when the caller must not see it (a usage-only item we asked for).

        Each step is guarded on its own: a failure to record neither reaches the caller nor stops the hiding of
        what we asked for. ``guard`` is inlined: this runs for every item of every stream.
        """
        accumulator = self.accumulator
        try:
            accumulator.add(item)
        except Exception:
            internal_error(accumulator.add)
        if not self.first_token_seen:
            try:
                if accumulator.is_token(item):
                    self.first_token_seen = True
                    add_plain_event(self.call.span.otel_span, attr.EVENT_FIRST_TOKEN)  # already guarded here
            except Exception:
                internal_error(accumulator.is_token)
        try:
            return bool(accumulator.hide(item))
        except Exception:
            internal_error(accumulator.hide)
            return False

    def end(self, exc: BaseException | None = None, closed_early: bool = False) -> None:
        _open.pop(id(self.watch), None)
        self.call.finish_stream(self.accumulator, exc, closed_early)


# Streams not ended yet, by the id of a weak reference to the caller's proxy: dropping the proxy, or the interpreter
# exiting first, ends the span. What ``weakref.finalize`` would do, at a fraction of its cost per stream; and a
# stream that ended normally leaves nothing behind to run when its proxy goes. Keyed by id, not by the reference:
# a weak reference hashes and compares as its referent, and the proxy would hand that on to the SDK's stream.
# An id is not reused while its entry is here: the entry's state holds the reference.
_open: dict[int, _StreamState] = {}
_exit_hook: list[bool] = []


def wrap_stream(stream: Any, call: StreamCall, accumulator: Accumulator) -> Any:
    """The proxy the caller gets instead of ``stream``; its span ends when the stream does."""
    state = _StreamState(call, accumulator)
    proxy = AsyncStreamProxy(stream, state) if hasattr(type(stream), "__anext__") else StreamProxy(stream, state)
    if not _exit_hook:  # registered at the first stream, after spanlite's own exit flush: so it runs before it
        _exit_hook.append(True)
        atexit.register(_end_open_streams)
    state.watch = weakref.ref(proxy, _dropped)
    _open[id(state.watch)] = state
    return proxy


def _dropped(watch: weakref.ref[Any]) -> None:
    state = _open.pop(id(watch), None)
    if state is not None:
        guard(state.end, None, True)


def _end_open_streams() -> None:
    for state in list(_open.values()):
        guard(state.end, None, True)


class _ProxyBase(wrapt.ObjectProxy):  # type: ignore[type-arg]  # wrapt 1 cannot subscript it at runtime
    _self_state: _StreamState
    _self_response: Any

    def __init__(self, wrapped: Any, state: _StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_response = None

    @property
    def response(self) -> Any:
        """The SDK stream's HTTP response, whose ``close()`` also ends the span (stream helpers call it)."""
        if self._self_response is None:
            real = self.__wrapped__.response
            self._self_response = guard(_ResponseProxy, real, self._self_state) or real
        return self._self_response

    @response.setter
    def response(self, value: Any) -> None:
        self.__wrapped__.response = value
        self._self_response = None

    def __repr__(self) -> str:
        return repr(self.__wrapped__)


class StreamProxy(_ProxyBase):
    """Proxy for a sync SDK stream (``openai.Stream``, ``anthropic.Stream``)."""

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                item = self.__wrapped__.__next__()
            except StopIteration:
                guard(self._self_state.end)
                raise
            except BaseException as exc:
                guard(self._self_state.end, exc)
                raise
            if not self._self_state.item(item):  # never raises: the item reaches the caller regardless
                return item

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            guard(self._self_state.end, None, True)

    def __enter__(self) -> Any:
        entered = self.__wrapped__.__enter__()
        return self if entered is self.__wrapped__ else entered

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            guard(self._self_state.end, None, True)


class AsyncStreamProxy(_ProxyBase):
    """Proxy for an async SDK stream (``openai.AsyncStream``, ``anthropic.AsyncStream``)."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                guard(self._self_state.end)
                raise
            except BaseException as exc:
                guard(self._self_state.end, exc)
                raise
            if not self._self_state.item(item):  # never raises: the item reaches the caller regardless
                return item

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            guard(self._self_state.end, None, True)

    async def __aenter__(self) -> Any:
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            guard(self._self_state.end, None, True)


class _ResponseProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]  # wrapt 1 cannot subscript it at runtime
    """The HTTP response of a proxied stream: closing it means the caller is done with the stream."""

    _self_state: _StreamState

    def __init__(self, wrapped: Any, state: _StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            guard(self._self_state.end, None, True)

    async def aclose(self) -> Any:
        try:
            return await self.__wrapped__.aclose()
        finally:
            guard(self._self_state.end, None, True)
