"""W3C trace context across an HTTP hop: one trace through two services, both writing to the store.

The caller adds ``traceparent`` (and ``tracestate``) to its request headers; the callee opens its spans inside
``extract_traceparent(request.headers)``. The W3C format is used directly, whatever propagator the global OTel
set-up has, so any OTel SDK on the other side understands it.

>>> headers = inject_traceparent({"Accept": "application/json"})  # client, inside a span
>>> with extract_traceparent(headers):  # server
...     pass
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._guard import guard

_PROPAGATOR = TraceContextTextMapPropagator()


def inject_traceparent(headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add ``traceparent``/``tracestate`` for the current span to ``headers`` (a new dict when ``None``).

    Returns the same mapping, so ``requests.get(url, headers=inject_traceparent())`` works. Outside any span
    nothing is added.
    """
    carrier: MutableMapping[str, str] = {} if headers is None else headers
    guard(_PROPAGATOR.inject, carrier)
    return carrier


class extract_traceparent:  # noqa: N801 - used like a function: ``with extract_traceparent(headers):``
    """Make the caller's span (from ``traceparent`` in ``headers``) the parent of spans opened in the block.

    ``headers`` may be a dict in any letter case, ``http.server``'s ``self.headers``, a WSGI environ
    (``HTTP_TRACEPARENT``) or anything with ``get``/``items``. Without a valid ``traceparent`` the block runs
    with the current context unchanged, so a request from an untraced client starts a new trace.
    ``.context`` is the extracted OTel ``Context``, for code that attaches contexts itself.
    """

    __slots__ = ("context", "_token")

    def __init__(self, headers: Any) -> None:
        self.context: otel_context.Context = (
            guard(_PROPAGATOR.extract, headers, getter=_HEADERS) or otel_context.get_current()
        )
        self._token: object | None = None

    def __enter__(self) -> otel_context.Context:
        self._token = guard(otel_context.attach, self.context)
        return self.context

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            guard(otel_context.detach, self._token)
            self._token = None


class _HeaderGetter(Getter[Any]):
    """Read a header whatever the carrier: header names are case-insensitive, WSGI spells them HTTP_*."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        wanted = {key.lower(), "http_" + key.lower().replace("-", "_")}
        for name, value in _items(carrier):
            if str(name).lower() in wanted:
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        return None

    def keys(self, carrier: Any) -> list[str]:
        return [str(name) for name, _ in _items(carrier)]


def _items(carrier: Any) -> list[tuple[Any, Any]]:
    if isinstance(carrier, Mapping) or hasattr(carrier, "items"):
        return list(carrier.items())
    return list(carrier or ())


_HEADERS = _HeaderGetter()
