"""spanlite: tracing for LLM apps and agents, into one SQLite file.

>>> import spanlite
>>> @spanlite.trace
... def answer(question: str) -> str:
...     return "42"
>>> answer("meaning of life?")
'42'
>>> spanlite.flush()
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spanlite._config import configure, default_store, flush
from spanlite.autolog import autolog
from spanlite.tracing import SpanKind, current_span, start_span, trace, update_current_trace

if TYPE_CHECKING:  # the query side loads on first read: an app that only writes spans never imports it
    from spanlite import datasets
    from spanlite.store import Page, Trace, TraceFilter
    from spanlite.store.expectations import Expectation
    from spanlite.store.feedback import Feedback, FeedbackValue

__all__ = [
    "SpanKind",
    "autolog",
    "configure",
    "current_span",
    "datasets",
    "delete_feedback",
    "flush",
    "get_feedback",
    "get_trace",
    "log_expectation",
    "log_feedback",
    "search_traces",
    "start_span",
    "trace",
    "update_current_trace",
]


def get_trace(trace_id: str) -> Trace | None:
    """The trace with all its spans from the configured store (spans ended so far are flushed first)."""
    flush()
    return default_store().get_trace(trace_id)


def search_traces(trace_filter: TraceFilter | None = None, /, **filters: Any) -> Page:
    """Search the configured store; takes what ``spanlite.store.TraceStore.search_traces`` takes.

    >>> spanlite.search_traces(status="ERROR", limit=10)  # doctest: +SKIP
    """
    flush()
    return default_store().search_traces(trace_filter, **filters)


def log_feedback(
    trace_id: str,
    name: str,
    value: FeedbackValue,
    *,
    span_id: str | None = None,
    source: str = "human",
    author: str | None = None,
    comment: str | None = None,
) -> Feedback:
    """Record whether an answer was good: ``value`` is a bool, a number or a string.

    ``source`` is ``"human"``, ``"code"`` or ``"llm_judge"``. The same author rating the same name again updates
    the rating and keeps the earlier ones in ``history``. The trace need not be stored yet.

    >>> spanlite.log_feedback(trace_id, "thumbs", False, author="ada", comment="wrong order number")  # doctest: +SKIP
    """
    return default_store().log_feedback(
        trace_id, name, value, span_id=span_id, source=source, author=author, comment=comment
    )


def get_feedback(trace_id: str, *, span_id: str | None = None, name: str | None = None) -> list[Feedback]:
    """Feedback on a trace, optionally only on one span or of one name, oldest first."""
    return default_store().get_feedback(trace_id, span_id=span_id, name=name)


def delete_feedback(feedback_id: int) -> bool:
    """Delete one feedback row by its ``id``; ``False`` if there was none."""
    return default_store().delete_feedback(feedback_id)


def log_expectation(
    trace_id: str,
    name: str,
    value: Any,
    *,
    span_id: str | None = None,
    source: str = "human",
    author: str | None = None,
) -> Expectation:
    """Record the ground truth for a trace (or one of its spans): what its answer should have been. ``value`` is any
    JSON value; MLflow's names where they fit (``expected_response``, ``expected_facts``).

    Expectations are kept apart from feedback (no feedback count or filter sees them); logging a name again
    replaces its value. ``source`` is ``"human"``, ``"code"``, ``"llm_judge"`` or ``"dataset"``.

    >>> spanlite.log_expectation(trace_id, "expected_response", "Paris")  # doctest: +SKIP
    """
    return default_store().log_expectation(trace_id, name, value, span_id=span_id, source=source, author=author)


def __getattr__(name: str) -> Any:
    if name == "datasets":  # loaded on first use, as the query side is
        return importlib.import_module("spanlite.datasets")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
