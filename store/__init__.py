"""The SQLite trace store: the exporter that writes it and the API that reads it.

>>> from spanlite.store import TraceStore
>>> with TraceStore("traces.db") as store:  # doctest: +SKIP
...     for t in store.search_traces(status="ERROR"):
...         print(t.name, t.duration_ms)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._db import StoreError, default_db_path
from .exporter import SQLiteSpanExporter

if TYPE_CHECKING:
    from . import views
    from .eval_datasets import Dataset, DatasetRecord
    from .eval_runs import Run, RunResult, RunScore
    from .expectations import Expectation
    from .filters import TraceFilter
    from .query import TraceStore
    from .records import Page, SpanRecord, Trace, TraceSummary
    from .views import FeedbackSummary, SessionSummary, SpanNode

# Loaded on first use: the query side is a third of ``import spanlite``, and an app that only writes spans never
# reads them back.
_LAZY = {
    "TraceStore": "query", "TraceFilter": "filters",
    "Page": "records", "SpanRecord": "records", "Trace": "records", "TraceSummary": "records",
    "FeedbackSummary": "views", "SessionSummary": "views", "SpanNode": "views",
    "Dataset": "eval_datasets", "DatasetRecord": "eval_datasets", "Expectation": "expectations",
    "Run": "eval_runs", "RunResult": "eval_runs", "RunScore": "eval_runs",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name == "views":
        return importlib.import_module(f"{__name__}.views")  # importing it sets the attribute for next time
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    return value


__all__ = [
    "Dataset",
    "DatasetRecord",
    "Expectation",
    "FeedbackSummary",
    "Page",
    "Run",
    "RunResult",
    "RunScore",
    "SQLiteSpanExporter",
    "SessionSummary",
    "SpanNode",
    "SpanRecord",
    "StoreError",
    "Trace",
    "TraceFilter",
    "TraceStore",
    "TraceSummary",
    "default_db_path",
    "views",
]
