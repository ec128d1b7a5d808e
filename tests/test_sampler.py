"""spanlite's sampler decides exactly as the SDK's ParentBased(TraceIdRatioBased(rate)) it stands in for."""

from __future__ import annotations

import random

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from spanlite.tracing._sampler import TraceSampler


def parents(rng: random.Random) -> list[object]:
    """No parent, and parents local or remote, sampled or not, with and without a trace state."""
    found: list[object] = [None]
    for remote in (False, True):
        for flags in (TraceFlags.DEFAULT, TraceFlags.SAMPLED):
            for state in (TraceState(), TraceState([("vendor", "v1")])):
                context = SpanContext(rng.getrandbits(128), rng.getrandbits(64), remote, TraceFlags(flags), state)
                found.append(otel_trace.set_span_in_context(NonRecordingSpan(context)))
    return found


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 1.0])
def test_decisions_match_the_sdk_sampler(rate: float) -> None:
    rng = random.Random(rate)
    ours, sdks = TraceSampler(rate), ParentBased(TraceIdRatioBased(rate))
    for parent in parents(rng):
        for attributes in (None, {}, {"k": "v"}):
            for _ in range(50):
                trace_id = rng.getrandbits(128)
                a = ours.should_sample(parent, trace_id, "span", attributes=attributes)  # type: ignore[arg-type]
                b = sdks.should_sample(parent, trace_id, "span", attributes=attributes)  # type: ignore[arg-type]
                assert a.decision == b.decision
                assert dict(a.attributes) == dict(b.attributes)
                assert dict(a.trace_state or {}) == dict(b.trace_state or {})
    assert ours.get_description() == sdks.get_description()
