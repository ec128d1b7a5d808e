"""Tracing: the ``@trace`` decorator and ``start_span``, emitting OpenTelemetry spans."""

from __future__ import annotations

from .decorator import trace
from .kinds import SpanKind
from .propagation import extract_traceparent, inject_traceparent
from .serialize import to_json
from .span import Span, current_span, start_span, update_current_trace

__all__ = [
    "Span",
    "SpanKind",
    "current_span",
    "extract_traceparent",
    "inject_traceparent",
    "start_span",
    "to_json",
    "trace",
    "update_current_trace",
]
