"""The OTel SDK's private state that spanlite reads and writes, as spanlite assumes it is.

spanlite goes past the SDK's public API in a few hot places, each with a fallback to the public API where the state
is not there; a fallback keeps spans right but may lose the speed, or (late attributes) what is read after the end.
So a new SDK release that moves any of this must fail here, by name, before the bounds in pyproject.toml let users
have it. The places:

- ``tracing/_sdk_attributes.py``: a live span's ``_attributes`` (``BoundedAttributes``: ``_dict``, ``_immutable``,
  ``_lock``, ``maxlen``, ``max_value_len``), ``_events`` (``BoundedList``), ``_lock`` and ``_end_time``; an ended
  span's attributes opened for a moment to add the ones read late.
- ``tracing/span.py``: a parent's attributes looked up in ``_attributes._dict``; ``_spanlite_depth`` kept on the span.
- ``tracing/_late.py``: the provider's processors, as ``span._span_processor._span_processors``.
- ``store/_rows.py`` (``pack_span``): an ended span's fields (``_name``, ``_context``, ``_parent``, ``_status``, ...).
- ``otlp/_export.py``: not private, but assumed: the OTLP exporter takes a span remade with plain dicts.
- ``tests/test_tracing.py`` resets the API's once-only global provider (``_TRACER_PROVIDER``) for one test.
"""

from __future__ import annotations

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status, StatusCode


class Ended(SpanProcessor):
    """Keeps the spans it is handed at their end."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def test_a_live_span_keeps_its_attributes_in_a_bounded_dict_under_its_lock() -> None:
    span = TracerProvider().get_tracer("test").start_span("live", attributes={"first": 1})
    attributes = span._attributes  # type: ignore[attr-defined]
    assert type(attributes) is BoundedAttributes
    assert type(attributes._dict) is dict and attributes._dict == {"first": 1}
    assert not attributes._immutable and span._end_time is None  # type: ignore[attr-defined]
    with span._lock:  # type: ignore[attr-defined]
        attributes._dict.update({"set": "directly"})
    assert dict(span.attributes) == {"first": 1, "set": "directly"}  # type: ignore[attr-defined]  # read from the dict


def test_a_spans_attribute_limits_are_on_its_bounded_attributes() -> None:
    default = TracerProvider().get_tracer("test").start_span("default")._attributes  # type: ignore[attr-defined]
    assert default.max_value_len is None and default.maxlen == SpanLimits().max_span_attributes
    limits = SpanLimits(max_span_attributes=3, max_span_attribute_length=2)
    limited = TracerProvider(span_limits=limits).get_tracer("test").start_span("limited")._attributes  # type: ignore[attr-defined]
    assert (limited.maxlen, limited.max_value_len) == (3, 2)


def test_an_ended_span_has_an_end_time_and_attributes_that_only_its_own_setter_can_change() -> None:
    span = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=2)).get_tracer("test").start_span("ended")
    span.end()
    attributes = span._attributes  # type: ignore[attr-defined]
    assert span._end_time is not None  # type: ignore[attr-defined]
    span.set_attribute("ignored", 1)  # the span's setters ignore an ended span (from 1.3x its dict is read-only too)
    assert "ignored" not in attributes
    with attributes._lock:
        attributes._dict.update({"read": "late"})
    attributes._immutable = False
    attributes["cut"] = "to the limit"  # the SDK's own setter: it cleans and cuts the value
    attributes._immutable = True
    assert dict(span.attributes) == {"read": "late", "cut": "to"}  # type: ignore[attr-defined]


def test_every_processor_gets_one_plain_readable_span_sharing_the_live_spans_state() -> None:
    first, second = Ended(), Ended()
    provider = TracerProvider()
    provider.add_span_processor(first)
    provider.add_span_processor(second)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("parent") as parent:
        span = tracer.start_span("child", attributes={"k": "v"})
        span.add_event("happened", {"n": 1})
        span.set_status(Status(StatusCode.ERROR, "why"))
        span.end()
    ended = first.spans[0]
    assert second.spans[0] is ended and type(ended) is ReadableSpan  # pack_span's fast path takes exactly this type
    assert ended._attributes is span._attributes and ended._events is span._events  # type: ignore[attr-defined]
    fields = (ended._name, ended._context, ended._parent, ended._status, ended._start_time, ended._end_time)
    assert fields == (ended.name, ended.context, ended.parent, ended.status, ended.start_time, ended.end_time)
    assert ended._parent == parent.get_span_context() and ended._resource is ended.resource
    assert type(ended._attributes._dict) is dict and ended._attributes._dict == dict(ended.attributes)
    assert list(ended._events) == list(ended.events)


def test_a_span_holds_its_providers_processors_in_a_tuple_made_anew_when_one_is_added() -> None:
    first, second = Ended(), Ended()
    provider = TracerProvider()
    provider.add_span_processor(first)
    before = provider.get_tracer("test").start_span("before")._span_processor._span_processors  # type: ignore[attr-defined]
    provider.add_span_processor(second)
    after = provider.get_tracer("test").start_span("after")._span_processor._span_processors  # type: ignore[attr-defined]
    assert type(before) is tuple and before == (first,)
    assert after == (first, second) and after is not before  # _late caches what it found by the tuple's identity


def test_a_live_spans_events_are_a_bounded_list_that_takes_events_with_shared_read_only_attributes() -> None:
    span = TracerProvider(span_limits=SpanLimits(max_events=1)).get_tracer("test").start_span("events")
    events = span._events  # type: ignore[attr-defined]
    assert type(events) is BoundedList
    no_attributes = BoundedAttributes(immutable=True)
    with span._lock:  # type: ignore[attr-defined]
        events.append(Event("first", no_attributes))
        events.append(Event("second", no_attributes))  # full: the oldest goes, and is counted
    span.end()
    (event,) = span.events  # type: ignore[attr-defined]
    assert (event.name, event.attributes, event.dropped_attributes) == ("second", no_attributes, 0)
    assert span.dropped_events == 1  # type: ignore[attr-defined]
    assert event.timestamp is not None


def test_a_span_takes_an_attribute_of_spanlites_own() -> None:
    span = TracerProvider().get_tracer("test").start_span("depth")
    span._spanlite_depth = 3  # type: ignore[attr-defined]
    assert span._spanlite_depth == 3  # type: ignore[attr-defined]


def test_the_otlp_encoder_takes_a_span_remade_with_plain_dicts() -> None:
    """What the redacting exporter sends: before 1.27 the encoder read ``.attributes.dropped`` of links and events."""
    provider = TracerProvider()
    ended = Ended()
    provider.add_span_processor(ended)
    provider.get_tracer("test").start_span("original").end()
    span = ended.spans[0]
    remade = ReadableSpan(
        name="remade", context=span.context, resource=span.resource, attributes={"k": "v"},
        links=[Link(span.context, {"link": 1})], events=[Event("happened", {"n": 2}, 1)],
        start_time=span.start_time, end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )  # fmt: skip
    (sent,) = encode_spans([remade]).resource_spans[0].scope_spans[0].spans
    assert (sent.name, sent.attributes[0].key, sent.events[0].attributes[0].key) == ("remade", "k", "n")
    assert sent.links[0].attributes[0].value.int_value == 1
