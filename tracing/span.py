"""``start_span``, ``current_span`` and the ``Span`` handle they give: a thin, safe face on an OTel span."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from . import _failure
from . import attributes as attr
from ._capture import set_json
from ._failure import record_failure
from ._guard import guard
from ._provider import tracer
from ._sdk_attributes import set_valid_attributes
from .kinds import SpanKind
from .serialize import to_json

_PRIMITIVES = (str, bool, int, float)
_PRIMITIVE_TYPES = frozenset(_PRIMITIVES)


class Span:
    """A span you can annotate; every method is safe to call on a finished or non-recording span.

    >>> with start_span("retrieve", kind="RETRIEVER") as span:
    ...     span.set_inputs({"query": "q"})
    ...     span.set_outputs(["doc-1"])
    """

    __slots__ = ("otel_span",)

    def __init__(self, otel_span: otel_trace.Span) -> None:
        self.otel_span = otel_span

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits, the form the store and the viewer use."""
        return format(self.otel_span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        return format(self.otel_span.get_span_context().span_id, "016x")

    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs: plain data as it is now, an object of the app's once the span has ended
        (``_capture``: rendering it may be slow, and must not hold the caller up)."""
        guard(set_json, self.otel_span, attr.INPUTS, inputs)

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs, as ``set_inputs`` does its inputs."""
        guard(set_json, self.otel_span, attr.OUTPUTS, outputs)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; values OTel cannot hold (dicts, objects) are stored as JSON text."""
        guard(_set_attributes, self.otel_span, {key: value})

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes at once (one lock round-trip in the SDK instead of one per key)."""
        guard(_set_attributes, self.otel_span, attributes)

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        guard(self.otel_span.add_event, str(name), otel_values(attributes or {}))

    def record_exception(self, exc: BaseException) -> None:
        """Mark the span failed and keep the exception (type, message, traceback) as an event."""
        guard(record_failure, self.otel_span, exc)

    def __repr__(self) -> str:
        return f"Span(trace_id={self.trace_id!r}, span_id={self.span_id!r})"


def otel_value(value: Any) -> Any:
    """An attribute value OTel accepts: primitives as they are, homogeneous lists as tuples, anything else as JSON.

    Tuples, as the SDK itself would store a list: a value kept in a span must not change when the caller's
    list does.
    """
    kind = type(value)
    if kind in _PRIMITIVE_TYPES or isinstance(value, _PRIMITIVES):  # exact types first: most values are
        return value
    if (kind is list or kind is tuple or isinstance(value, (list, tuple))) and value:
        first = type(value[0])
        if (first in _PRIMITIVE_TYPES or issubclass(first, _PRIMITIVES)) and all(type(v) is first for v in value):
            return tuple(value)
    return to_json(value)


def otel_values(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` with ``str`` keys and ``otel_value`` values; an empty key, which OTel drops, is left out."""
    values = {}
    for k, v in attributes.items():
        key = k if type(k) is str else str(k)
        if key:
            values[key] = v if type(v) in _PRIMITIVE_TYPES else otel_value(v)
    return values


def _set_attributes(span: otel_trace.Span, attributes: Mapping[str, Any]) -> None:
    set_valid_attributes(span, otel_values(attributes))


class start_span:  # noqa: N801 - used like a function: ``with start_span(...) as span``
    """Open a span around a block; it becomes the parent of spans started inside.

    Exceptions leaving the block mark the span ERROR and pass through unchanged.

    >>> with start_span("plan", kind="AGENT", inputs={"goal": "x"}) as span:
    ...     span.set_outputs("done")
    """

    __slots__ = ("_name", "_kind", "_inputs", "_attributes", "_span", "_token")

    def __init__(
        self,
        name: str,
        *,
        kind: str | SpanKind = SpanKind.CHAIN,
        inputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._kind = SpanKind.parse(kind)
        self._inputs = inputs
        self._attributes = attributes
        self._span: otel_trace.Span | None = None
        self._token: object | None = None

    def __enter__(self) -> Span:
        otel_span = guard(open_span, self._name, self._kind, self._attributes)
        if otel_span is None:
            return Span(otel_trace.INVALID_SPAN)
        self._span = otel_span
        self._token = otel_context.attach(otel_trace.set_span_in_context(otel_span))
        span = Span(otel_span)
        if self._inputs is not None:
            span.set_inputs(self._inputs)
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._span is None:
            return
        guard(close_span, self._span, self._token, exc)


def open_span(name: str, kind: SpanKind, attributes: Mapping[str, Any] | None = None) -> otel_trace.Span:
    """Start (but do not activate) an OTel span of ``kind`` under the current context."""
    values: dict[str, Any] = {attr.SPAN_KIND: kind.value}
    if attributes:
        values.update(otel_values(attributes))
    return start_otel_span(str(name), values)


def start_otel_span(
    name: str, values: dict[str, Any], kind: otel_trace.SpanKind = otel_trace.SpanKind.INTERNAL
) -> otel_trace.Span:
    """Start a span with valid attribute ``values`` (``otel_values``; taken over, not copied); ``kind`` is OTel's
    (CLIENT and SERVER for the two ends of a call between processes).

    The attributes are set after the start rather than passed to it: the SDK's sampler hands passed attributes on
    as a read-only proxy that costs more to copy in than the few attributes themselves.
    """
    context = otel_context.get_current()
    parent = otel_trace.get_current_span(context)
    parent_context = parent.get_span_context()
    depth = 1
    if parent_context.is_valid:
        parent_attributes = _attributes_of(parent)
        if parent_context.is_remote or parent_attributes is None or attr.SPAN_KIND not in parent_attributes:
            values[attr.LOCAL_ROOT] = True  # the parent is in another process, or not one of ours
        depth = getattr(parent, "_spanlite_depth", 0) + 1
    span = tracer().start_span(name, context=context, kind=kind)
    set_valid_attributes(span, values)
    # How many of spanlite's spans enclose it, itself included, in its context (a thread's, an asyncio task's): an
    # upper bound of the traced calls on the stack where it runs, for ``_depth``. Kept on the span object: a context
    # variable of ours would cost a span 3% more.
    try:
        span._spanlite_depth = depth  # type: ignore[attr-defined]
    except AttributeError:  # a span type of someone else's, with __slots__
        pass
    return span


def _attributes_of(span: otel_trace.Span) -> Mapping[str, Any] | None:
    """A span's attributes to look up a key in: the SDK span's own dict (its public property wraps them in a
    read-only proxy whose lookups go through Python), else what the span offers."""
    own = getattr(getattr(span, "_attributes", None), "_dict", None)
    return own if type(own) is dict else getattr(span, "attributes", None)


def close_span(span: otel_trace.Span, token: object | None, exc: BaseException | None) -> None:
    """Deactivate and end ``span``; an exception marks it ERROR.

    Success leaves the status UNSET, as the OTel spec asks of instrumentation (OK is the app's to set); the store
    shows a spanlite span that ended UNSET as OK.
    """
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]
    if exc is not None:
        record_failure(span, exc)
    elif _failure.last is not None:
        _failure.last = None  # the exception has been dealt with: its frames are not ours to keep alive
    span.end()


def current_span() -> Span:
    """The active span (a no-op handle when there is none).

    >>> current_span().set_attribute("retrieval.k", 5)
    """
    return Span(otel_trace.get_current_span())


def update_current_trace(
    *,
    tags: Iterable[str] | Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
) -> None:
    """Attach trace-level facts from anywhere inside a trace; the store merges them onto the trace.

    ``tags`` is a list of labels (a mapping's keys are taken as well, ``key=value`` for each item).

    >>> update_current_trace(tags=["beta"], session_id="chat-42", user_id="ada")
    """
    guard(_update_current_trace, tags, metadata, session_id, user_id)


def _update_current_trace(
    tags: Iterable[str] | Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    session_id: str | None,
    user_id: str | None,
) -> None:
    span = otel_trace.get_current_span()
    if not span.is_recording():
        return
    existing = getattr(span, "attributes", None) or {}
    if tags is not None:
        new_tags = [f"{k}={v}" for k, v in tags.items()] if isinstance(tags, Mapping) else [str(t) for t in tags]
        old_tags = orjson.loads(existing.get(attr.TRACE_TAGS, "[]"))
        span.set_attribute(attr.TRACE_TAGS, to_json(list(dict.fromkeys([*old_tags, *new_tags]))))
    if metadata is not None:
        merged = {**orjson.loads(existing.get(attr.TRACE_METADATA, "{}")), **dict(metadata)}
        span.set_attribute(attr.TRACE_METADATA, to_json(merged))
    if session_id is not None:
        span.set_attribute(attr.SESSION_ID, str(session_id))
    if user_id is not None:
        span.set_attribute(attr.USER_ID, str(user_id))
