"""spanlite sets its already-valid attributes straight into the SDK's span; the result must be what the SDK's own
``set_attributes`` gives, limits and ended spans included."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

import spanlite
from spanlite.store import TraceStore
from spanlite.tracing.span import otel_values

LIMITS = pytest.mark.parametrize(
    "limits",
    [SpanLimits(), SpanLimits(max_span_attribute_length=2), SpanLimits(max_span_attributes=3)],
    ids=["no limits", "value length limit", "count limit"],
)


def values() -> dict[str, object]:
    return otel_values(
        {"a": "text", "n": 3, "x": 1.5, "ok": True, "tags": ["p", "q"], "cfg": {"k": [1]}, "": "dropped"}
    )


@LIMITS
def test_attributes_are_what_the_sdk_itself_stores(limits: SpanLimits) -> None:
    from spanlite.tracing._sdk_attributes import set_valid_attributes

    tracer = TracerProvider(span_limits=limits).get_tracer("test")
    ours, sdks = tracer.start_span("ours"), tracer.start_span("sdk's")
    for span in (ours, sdks):
        span.set_attributes({"first": "kept unless the count limit drops it"})
    set_valid_attributes(ours, values())
    sdks.set_attributes(values())
    assert dict(ours.attributes) == dict(sdks.attributes)  # type: ignore[attr-defined]


@LIMITS
def test_attributes_added_after_the_end_are_what_the_sdk_stores_before_it(limits: SpanLimits) -> None:
    from spanlite.tracing._sdk_attributes import add_to_ended

    tracer = TracerProvider(span_limits=limits).get_tracer("test")
    ours, sdks = tracer.start_span("ours"), tracer.start_span("sdk's")
    for span in (ours, sdks):
        span.set_attributes({"first": "kept unless the count limit drops it"})
    sdks.set_attributes(values())
    for span in (ours, sdks):
        span.end()
    add_to_ended(ours, values())
    assert dict(ours.attributes) == dict(sdks.attributes)  # type: ignore[attr-defined]
    assert ours.dropped_attributes == sdks.dropped_attributes  # type: ignore[attr-defined]
    ours.set_attribute("later", 1)  # read-only again, as the SDK leaves an ended span
    assert "later" not in ours.attributes  # type: ignore[attr-defined]


@pytest.mark.parametrize("limits", [SpanLimits(), SpanLimits(max_events=1)], ids=["no limits", "event limit"])
def test_a_plain_event_is_what_the_sdk_itself_stores(limits: SpanLimits) -> None:
    from spanlite.tracing._sdk_attributes import add_plain_event

    tracer = TracerProvider(span_limits=limits).get_tracer("test")
    ours, sdks = tracer.start_span("ours"), tracer.start_span("sdk's")
    for span in (ours, sdks):
        span.add_event("earlier")
    add_plain_event(ours, "first_token")
    sdks.add_event("first_token")
    for span in (ours, sdks):
        span.end()
    add_plain_event(ours, "after the end")
    seen = [[(e.name, dict(e.attributes), e.dropped_attributes) for e in s.events] for s in (ours, sdks)]
    assert seen[0] == seen[1] and seen[0][-1] == ("first_token", {}, 0)
    assert ours.dropped_events == sdks.dropped_events  # type: ignore[attr-defined]


def test_lists_are_kept_as_tuples_like_the_sdk_keeps_them() -> None:
    tags = ["p", "q"]
    with spanlite.start_span("s", attributes={"tags": tags}) as span:
        tags.append("changed later")
    assert span.otel_span.attributes["tags"] == ("p", "q")  # type: ignore[attr-defined]


def test_an_ended_span_keeps_its_attributes() -> None:
    with spanlite.start_span("done") as span:
        span.set_attribute("before", 1)
    span.set_attribute("after", 2)
    span.set_attributes({"after": 2})
    span.set_outputs("late")
    assert dict(span.otel_span.attributes) == {"spanlite.span.kind": "CHAIN", "before": 1}  # type: ignore[attr-defined]


def test_a_value_length_limit_from_the_environment_applies_to_spanlite_spans(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8")
    spanlite.configure(db=db_path)

    @spanlite.trace(attributes={"team": "search and retrieval"})
    def answer(question: str) -> str:
        return "a long answer"

    answer("what is the refund policy?")
    spanlite.flush()
    with TraceStore(db_path) as store:
        (span,) = store.get_trace(store.search_traces()[0].trace_id).spans  # type: ignore[union-attr]
    assert span.attributes["team"] == "search a"
    assert span.outputs == '"a long '  # JSON text cut at 8 characters by the SDK, so stored as text
