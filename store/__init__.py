"""The SQLite trace store: the exporter that writes it and the API that reads it.

>>> from spanlite.store import TraceStore
>>> with TraceStore("traces.db") as store:  # doctest: +SKIP
...     for t in store.search_traces(status="ERROR"):
...         print(t.name, t.duration_ms)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import views
from ._db import StoreError, default_db_path
from .exporter import SQLiteSpanExporter
from .query import TraceStore
from .records import Page, SpanRecord, Trace, TraceSummary
from .views import FeedbackSummary, SessionSummary, SpanNode

if TYPE_CHECKING:
    from .receiver import Receiver, serve, start_receiver

_RECEIVER_NAMES = ("Receiver", "serve", "start_receiver")


def __getattr__(name: str) -> Any:
    """The OTLP receiver loads on first use: it needs the optional ``otlp`` extra (protobuf, OTLP protos)."""
    if name in _RECEIVER_NAMES:
        from . import receiver

        return getattr(receiver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FeedbackSummary",
    "Page",
    "Receiver",
    "SQLiteSpanExporter",
    "SessionSummary",
    "SpanNode",
    "SpanRecord",
    "StoreError",
    "Trace",
    "TraceStore",
    "TraceSummary",
    "default_db_path",
    "serve",
    "start_receiver",
    "views",
]
