"""Which traces are kept: ``sample_rate`` of new traces, decided at the root and followed by every span under it;
and every trace started in a ``kept_trace()`` context, whatever the rate (an evaluation's traces, which it reads
back and writes feedback on)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.context import Context, create_key, get_value, set_value
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_TRACE_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT
_KEEP = create_key("spanlite.keep_trace")


def kept_trace() -> Context:
    """A context with no current span, in which a span starts a new trace that is kept whatever the sample rate."""
    return set_value(_KEEP, True, Context())


class TraceSampler(ParentBased):
    """``ParentBased(TraceIdRatioBased(rate))`` with its default delegates, decided in one call.

    The SDK's version walks five calls per span (the parent looked up twice, a delegate, a fresh result); this
    one answers the same and hands out one shared result when there is nothing span-specific to carry (no
    attributes, an empty trace state), which is nearly every span spanlite starts.
    """

    def __init__(self, rate: float) -> None:
        super().__init__(TraceIdRatioBased(rate))
        self._bound = TraceIdRatioBased.get_bound_for_rate(rate)
        self._sampled = SamplingResult(Decision.RECORD_AND_SAMPLE)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        state: Any
        if parent.is_valid:
            sampled, state = parent.trace_flags.sampled, parent.trace_state
        else:  # a root: looked up only here, so that spans under one pay nothing for kept_trace
            sampled = trace_id & _TRACE_ID_LIMIT < self._bound or get_value(_KEEP, parent_context) is True
            state = None
        if not sampled:
            return SamplingResult(Decision.DROP, None, state)
        if not attributes and not state:
            return self._sampled
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
