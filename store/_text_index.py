"""The full-text index over span inputs and outputs, kept a step behind the spans table.

Indexing text is the most expensive part of storing a span, so writers do not do it while spans are pouring
in: the index catches up when the writer is idle, and a text search always catches it up first, so searches
see every stored span. ``counters.fts_rowid`` is the last spans rowid that is indexed. ``trace_condition`` is
how a search asks the index for traces.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

INDEXED_UPTO = "fts_rowid"
CHUNK = 5_000
HITS = "SELECT rowid FROM spans_fts WHERE spans_fts MATCH ?"


def catch_up(conn: sqlite3.Connection, limit: int | None = CHUNK) -> int:
    """Index up to ``limit`` spans not yet indexed (all of them for ``None``); call inside a write transaction."""
    start = indexed_upto(conn)
    end: int = conn.execute("SELECT coalesce(max(rowid), 0) FROM spans").fetchone()[0]
    if limit is not None:
        end = min(end, start + limit)
    if end <= start:
        return 0
    conn.execute(
        "INSERT INTO spans_fts (rowid, inputs, outputs) "
        "SELECT rowid, inputs, outputs FROM spans WHERE rowid > ? AND rowid <= ?",
        [start, end],
    )
    _set(conn, end)
    return end - start


def trace_condition(
    rows: Callable[[str, Sequence[Any]], list[dict[str, Any]]], match: str, *, cap: int, newest_first: bool
) -> tuple[Any, ...]:
    """A condition on ``traces t`` that some span of the trace matches the FTS5 query ``match``, and its values.

    Fewer than ``cap`` matching spans: list their traces. More: probe each trace the search visits by looking its
    span rowids up among the matches, which SQLite collects once per query. When the search walks traces
    ``newest_first``, the probe looks among the ``cap`` newest matches first; only a trace with spans older than
    those makes SQLite collect every match (the trace_id index has the rowids, so that range is empty for recent
    traces), so a page of recent traces does not pay for the whole doclist of a common word.
    """
    newest = f"SELECT count(*) AS n, min(rowid) AS floor FROM ({HITS} ORDER BY rowid DESC LIMIT ?)"
    found = rows(newest, [match, cap])[0]
    if found["n"] < cap:
        return f"t.trace_id IN (SELECT s.trace_id FROM spans s WHERE s.rowid IN ({HITS}))", match
    # The ``+`` keeps SQLite on the trace_id index instead of fetching every matching span row by rowid.
    if not newest_first:
        return _has_span(f"+x.rowid IN ({HITS})"), match
    recent = _has_span(f"+x.rowid IN ({HITS} AND rowid >= ?)")
    older = _has_span(f"x.rowid < ? AND +x.rowid IN ({HITS})")
    return f"({recent} OR {older})", match, found["floor"], found["floor"], match


def _has_span(condition: str) -> str:
    return f"EXISTS (SELECT 1 FROM spans x WHERE x.trace_id = t.trace_id AND {condition})"


def after_delete(conn: sqlite3.Connection) -> None:
    """New spans get rowids above the largest left; keep the mark no higher so they are indexed in turn."""
    largest = conn.execute("SELECT coalesce(max(rowid), 0) FROM spans").fetchone()[0]
    if largest < indexed_upto(conn):
        _set(conn, largest)


def indexed_upto(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM counters WHERE name = ?", [INDEXED_UPTO]).fetchone()
    return row[0] if row else 0


def _set(conn: sqlite3.Connection, rowid: int) -> None:
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [INDEXED_UPTO, rowid],
    )
