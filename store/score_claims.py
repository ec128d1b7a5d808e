"""Online scoring's claims: which scorer has taken which trace.

A scorer scores a trace at most once, however many ``spanlite score`` processes watch the store: before scoring,
a process inserts the (trace, scorer) row, and only the one whose insert went in scores it (the primary key is the
lock, taken in one statement). A process that dies between its claim and its feedback leaves that pair unscored:
at most once, not at least once. ``status`` says how it went: ``claimed`` (being scored), ``scored``, ``error``
(with the scorer's ``error``), ``sampled_out`` (passed over by ``--sample``, for good).

Traces made by evaluation itself (an ``evaluate`` example, a judge's own trace) are never candidates: they carry
``eval.run_id`` / ``eval.scorer`` in their metadata.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from .records import TraceSummary

if TYPE_CHECKING:
    from .filters import TraceFilter
    from .query import TraceStore

STATUSES = ("claimed", "scored", "error", "sampled_out")
EVALUATION_KEYS = ("eval.run_id", "eval.scorer")  # trace metadata of the traces evaluation makes
MAX_BATCH = 1_000


def unclaimed(
    store: TraceStore, scorers: Sequence[str], trace_filter: TraceFilter, *, limit: int = 100
) -> list[TraceSummary]:
    """Finished traces (their root stored) matching ``trace_filter`` that one of ``scorers`` has not claimed yet,
    oldest first; evaluation's own traces left out."""
    if not scorers:
        raise ValueError("name at least one scorer")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BATCH:
        raise ValueError(f"limit must be between 1 and {MAX_BATCH}, not {limit!r}")
    where, params = store._where(trace_filter)
    where.append("t.root_span_id IS NOT NULL")
    where += [f"json_extract(t.metadata, '$.\"{key}\"') IS NULL" for key in EVALUATION_KEYS]
    where.append(
        "EXISTS (SELECT 1 FROM json_each(?) s WHERE NOT EXISTS "
        "(SELECT 1 FROM score_claims c WHERE c.trace_id = t.trace_id AND c.scorer = s.value))"
    )
    params.append(orjson.dumps(list(scorers)).decode())
    rows = store.rows(
        f"SELECT t.* FROM traces t WHERE {' AND '.join(where)} ORDER BY t.start_ns, t.trace_id LIMIT ?",
        [*params, limit],
    )
    return [TraceSummary.from_row(r) for r in rows]


def claim(store: TraceStore, trace_id: str, scorer: str, *, worker: str | None = None, status: str = "claimed") -> bool:
    """Take (trace, scorer) for this process; ``False`` if another took it first. ``status="sampled_out"`` takes it
    for good without scoring it."""
    _check_status(status)
    with store.transaction() as conn:
        inserted = conn.execute(
            "INSERT OR IGNORE INTO score_claims (trace_id, scorer, status, worker, claimed_ns) VALUES (?, ?, ?, ?, ?)",
            [trace_id, scorer, status, worker, time.time_ns()],
        ).rowcount
    return inserted == 1


def settle(store: TraceStore, trace_id: str, scorer: str, status: str, error: str | None = None) -> None:
    """Record how scoring a claimed (trace, scorer) went: ``scored`` or ``error``."""
    _check_status(status)
    with store.transaction() as conn:
        conn.execute(
            "UPDATE score_claims SET status = ?, error = ? WHERE trace_id = ? AND scorer = ?",
            [status, error, trace_id, scorer],
        )


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"a claim's status is one of {', '.join(STATUSES)}, not {status!r}")
