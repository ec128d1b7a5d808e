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

from typing import Any

from spanlite._config import configure, flush
from spanlite.autolog import autolog
from spanlite.store import Page, Trace
from spanlite.tracing import SpanKind, current_span, start_span, trace, update_current_trace

__all__ = [
    "SpanKind",
    "autolog",
    "configure",
    "current_span",
    "flush",
    "get_trace",
    "search_traces",
    "start_span",
    "trace",
    "update_current_trace",
]


def get_trace(trace_id: str) -> Trace | None:
    """The trace with all its spans from the configured store (spans ended so far are flushed first)."""
    from spanlite._config import store

    flush()
    return store().get_trace(trace_id)


def search_traces(**filters: Any) -> Page:
    """Search the configured store; takes the filters of ``spanlite.store.TraceStore.search_traces``.

    >>> spanlite.search_traces(status="ERROR", limit=10)  # doctest: +SKIP
    """
    from spanlite._config import store

    flush()
    return store().search_traces(**filters)
