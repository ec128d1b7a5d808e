"""Expectations: the ground truth for a trace (or one of its spans), what its answer should have been.

One row per (trace, span, name); logging the same name again replaces the value. Kept in a table of their own, not
as feedback: feedback judges what an answer was, so no feedback count, filter or thumbs must ever see ground truth.
Like feedback, an expectation may arrive before its trace's spans, is stored as given (user data, not redacted as
span text is), and is deleted with its trace. Names follow MLflow's where it has them (``expected_response``,
``expected_facts``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from ._json_values import from_json, to_json
from .feedback import delete_row, rows_on_trace

if TYPE_CHECKING:
    from .query import TraceStore

SOURCES = ("human", "code", "llm_judge", "dataset")


@dataclasses.dataclass(frozen=True)
class Expectation:
    id: int
    trace_id: str
    span_id: str | None
    name: str
    value: Any  # any JSON value: the expected answer, a list of facts, a dict
    source: str
    author: str | None
    created_ns: int
    updated_ns: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Expectation:
        return cls(**{**row, "value": from_json(row["value"])})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def log_expectation(
    store: TraceStore,
    trace_id: str,
    name: str,
    value: Any,
    *,
    span_id: str | None = None,
    source: str = "human",
    author: str | None = None,
) -> Expectation:
    if not trace_id or not isinstance(trace_id, str):
        raise ValueError("an expectation needs a trace_id")
    if not name or not isinstance(name, str):
        raise ValueError("an expectation needs a name")
    if source not in SOURCES:
        raise ValueError(f"expectation source must be one of {', '.join(SOURCES)}, not {source!r}")
    text = to_json(value, f"expectation {name!r}")
    now = time.time_ns()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO expectations (trace_id, span_id, name, value, source, author, created_ns, updated_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id, coalesce(span_id, ''), name) DO UPDATE SET "
            "value = excluded.value, source = excluded.source, author = excluded.author, "
            "updated_ns = excluded.updated_ns",
            [trace_id, span_id, name, text, source, author, now, now],
        )
        cursor = conn.execute(
            "SELECT * FROM expectations WHERE trace_id = ? AND coalesce(span_id, '') = ? AND name = ?",
            [trace_id, span_id or "", name],
        )
        row = dict(zip([d[0] for d in cursor.description], cursor.fetchone()))
    return Expectation.from_row(row)


def get_expectations(
    store: TraceStore, trace_id: str, *, span_id: str | None = None, name: str | None = None
) -> list[Expectation]:
    """Expectations on a trace (all of them, or on one span, or of one name), oldest first."""
    return [Expectation.from_row(r) for r in rows_on_trace(store, "expectations", trace_id, span_id, name)]


def delete_expectation(store: TraceStore, expectation_id: int) -> bool:
    return delete_row(store, "expectations", expectation_id)
