"""The full-text index over span inputs and outputs, kept a step behind the spans table.

Indexing text is the most expensive part of storing a span, so writers do not do it while spans are pouring
in: the index catches up when the writer is idle, and a text search always catches it up first, so searches
see every stored span. ``counters.fts_rowid`` is the last spans rowid that is indexed.
"""

from __future__ import annotations

import sqlite3

INDEXED_UPTO = "fts_rowid"
CHUNK = 5_000


def catch_up(conn: sqlite3.Connection, limit: int | None = CHUNK) -> int:
    """Index up to ``limit`` spans not yet indexed (all of them for ``None``); call inside a write transaction."""
    start = indexed_upto(conn)
    end = conn.execute("SELECT coalesce(max(rowid), 0) FROM spans").fetchone()[0]
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
