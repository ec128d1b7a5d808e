"""The SQLite trace store: the exporter that writes it and the API that reads it.

>>> from spanlite.store import TraceStore
>>> with TraceStore("traces.db") as store:  # doctest: +SKIP
...     for t in store.search_traces(status="ERROR"):
...         print(t.name, t.duration_ms)
"""

from __future__ import annotations

from . import views
from ._db import StoreError, default_db_path
from .exporter import SQLiteSpanExporter
from .query import TraceStore
from .records import Page, SpanRecord, Trace, TraceSummary
from .views import FeedbackSummary, SessionSummary, SpanNode

__all__ = [
    "FeedbackSummary",
    "Page",
    "SQLiteSpanExporter",
    "SessionSummary",
    "SpanNode",
    "SpanRecord",
    "StoreError",
    "Trace",
    "TraceStore",
    "TraceSummary",
    "default_db_path",
    "views",
]
