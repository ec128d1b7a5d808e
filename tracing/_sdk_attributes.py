"""Setting attributes that spanlite has already made valid on an OTel SDK span, without validating them again; and
adding them to an ended span before it is exported, and events without attributes.

The SDK's ``set_attribute(s)`` checks every value again (type, the type of each item of a sequence, the length
limit) at about 6K instructions an attribute, a tenth of what a whole span costs. spanlite's values are valid by
construction (``span.otel_value``: JSON text, numbers, booleans, tuples of one primitive type). So when the span
is the SDK's own, still open, and no limit could apply (no value-length limit set, room under the count limit),
they go straight into its attribute dict, under the span's lock. Otherwise, and for any other span type, the
public ``set_attributes`` takes them, and truncates, drops and warns exactly as the SDK does.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList

_NO_ATTRIBUTES = BoundedAttributes(immutable=True)  # what the SDK gives an event without any; read-only, so shared


def set_valid_attributes(span: otel_trace.Span, values: dict[str, Any]) -> None:
    """Set ``values`` (non-empty ``str`` keys, values from ``otel_value``) on ``span``."""
    attributes = getattr(span, "_attributes", None)
    lock = getattr(span, "_lock", None)
    if (
        type(attributes) is BoundedAttributes
        and lock is not None
        and attributes.max_value_len is None
        and (attributes.maxlen is None or len(attributes._dict) + len(values) <= attributes.maxlen)
    ):
        with lock:
            if getattr(span, "_end_time", 0) is None and not attributes._immutable:
                attributes._dict.update(values)
                return
    span.set_attributes(values)


def add_to_ended(span: ReadableSpan, values: dict[str, Any]) -> None:
    """Add ``values`` (as for ``set_valid_attributes``) to a span that has ended, before anything exports it.

    The SDK makes an ended span's attributes read-only; spanlite's export processors own the span until they
    export it (``_late``), so they open them for this. Under a limit the SDK's own setter takes each value.
    """
    attributes = getattr(span, "_attributes", None)
    if type(attributes) is not BoundedAttributes:
        return  # not the SDK's span: nothing of ours can be added to it
    if attributes.max_value_len is None and (
        attributes.maxlen is None or len(attributes._dict) + len(values) <= attributes.maxlen
    ):
        with attributes._lock:
            attributes._dict.update(values)
        return
    attributes._immutable = False
    try:
        for key, value in values.items():
            attributes[key] = value
    finally:
        attributes._immutable = True


def add_plain_event(span: otel_trace.Span, name: str) -> None:
    """``span.add_event(name)`` for an event without attributes (a stream's first token), at half the cost: the SDK
    builds an empty attribute map, with a lock of its own, for each event."""
    events = getattr(span, "_events", None)
    lock = getattr(span, "_lock", None)
    if type(events) is BoundedList and lock is not None:
        with lock:
            if getattr(span, "_end_time", 0) is None:
                events.append(Event(name, _NO_ATTRIBUTES))  # a full list drops its oldest and counts it, as the SDK's
                return
    span.add_event(name)
