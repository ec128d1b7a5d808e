"""Read-only queries the viewer needs beyond ``TraceStore``: span trees, facets, sessions, overview, feedback.

Every query here is an index lookup or a bounded range with a ``LIMIT``, so a page of the viewer stays fast on a
store with millions of spans.

>>> from spanlite.store import TraceStore, views
>>> store = TraceStore("traces.db")  # doctest: +SKIP
>>> views.facet_values(store, "model")  # doctest: +SKIP
['claude-3-5-sonnet', 'gpt-4o']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import orjson

from .query import SPANS, TraceStore, fts_query
from .records import SpanRecord, TraceSummary, tree_order

# facet -> (table, column): each column leads an index, so distinct values come from skipping through it.
FACETS = {
    "model": ("spans", "model"),
    "kind": ("spans", "kind"),
    "tag": ("trace_tags", "tag"),
    "service": ("resources", "service"),
    "session": ("traces", "session_id"),
}
SESSION_WINDOW = 2_000  # recent traces scanned to find the most recently active sessions
LATENCY_SAMPLE = 20_000  # at most this many traces of a range, spread over it, give its latency percentiles


@dataclasses.dataclass(frozen=True)
class SpanNode:
    """One span of a trace without its payload: enough to draw the tree and the waterfall, and its links."""

    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    links: list[dict[str, Any]]  # {"trace_id", "span_id", "attributes"}
    depth: int
    cost: float | None = None  # USD

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclasses.dataclass(frozen=True)
class SessionSummary:
    session_id: str
    trace_count: int
    first_ns: int
    last_ns: int
    user_id: str | None
    input_tokens: int | None
    output_tokens: int | None
    error_count: int


@dataclasses.dataclass(frozen=True)
class FeedbackSummary:
    """All feedback of one name on a trace: how many, the mean of the numeric (or boolean) values, and how many
    were ``true``/``false`` so thumbs read as 👍 2 · 👎 1 rather than a mean of 0.67."""

    name: str
    count: int
    mean: float | None
    trues: int = 0
    falses: int = 0


def facet_values(store: TraceStore, facet: str, *, limit: int = 200) -> list[str]:
    """Distinct values of a filterable column (``model``, ``kind``, ``tag``, ``service``, ``session``), sorted.

    A loose index scan: one index seek per distinct value instead of reading the whole table.
    """
    table, column = FACETS[facet]
    sql = (
        f"WITH RECURSIVE v(x) AS (SELECT min({column}) FROM {table} "
        f"UNION ALL SELECT (SELECT min({column}) FROM {table} WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL) "
        "SELECT x FROM v WHERE x IS NOT NULL LIMIT ?"
    )
    return [r["x"] for r in store.rows(sql, [limit])]


def trace_summary(store: TraceStore, trace_id: str) -> TraceSummary | None:
    """A trace's summary row alone, without loading its spans."""
    rows = store.rows("SELECT * FROM traces WHERE trace_id = ?", [trace_id])
    return TraceSummary.from_row(rows[0]) if rows else None


def get_spans(store: TraceStore, ids: Iterable[tuple[str, str]]) -> dict[tuple[str, str], SpanRecord]:
    """Several spans by ``(trace_id, span_id)`` at once (e.g. the root spans of a session's traces)."""
    rows = store.rows(
        f"{SPANS} WHERE (s.trace_id, s.span_id) IN "
        "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
        [orjson.dumps(list(ids)).decode()],
    )
    return {(r["trace_id"], r["span_id"]): SpanRecord.from_row(r) for r in rows}


def trace_services(store: TraceStore, trace_ids: Iterable[str]) -> dict[str, list[str]]:
    """The services each of a page of traces has spans from, through the ``trace_resources`` index."""
    rows = store.rows(
        "SELECT DISTINCT x.trace_id, r.service FROM trace_resources x JOIN resources r ON r.id = x.resource_id "
        "WHERE x.trace_id IN (SELECT value FROM json_each(?)) AND r.service IS NOT NULL ORDER BY r.service",
        [orjson.dumps(list(trace_ids)).decode()],
    )
    services: dict[str, list[str]] = {}
    for r in rows:
        services.setdefault(r["trace_id"], []).append(r["service"])
    return services


def stored_traces(store: TraceStore, trace_ids: Iterable[str]) -> set[str]:
    """Which of ``trace_ids`` this store holds."""
    rows = store.rows(
        "SELECT trace_id FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))",
        [orjson.dumps(list(trace_ids)).decode()],
    )
    return {r["trace_id"] for r in rows}


def span_tree(store: TraceStore, trace_id: str) -> list[SpanNode]:
    """The spans of a trace in depth-first order (children by start time), without inputs and outputs.

    Spans whose parent is missing (not arrived yet, or from another trace) are shown as roots.
    """
    rows = store.rows(
        "SELECT span_id, parent_id, name, kind, start_ns, end_ns, status, model, input_tokens, output_tokens, links, "
        "cost FROM spans WHERE trace_id = ? ORDER BY start_ns, rowid",
        [trace_id],
    )
    for row in rows:
        row["links"] = orjson.loads(row["links"]) if row["links"] else []
    order = tree_order([(r["span_id"], r["parent_id"]) for r in rows])
    return [SpanNode(**rows[i], depth=depth) for depth, i in order]


SPAN_MATCH_LIMIT = 1_000  # span ids a text search within one trace returns at most


def span_text_matches(store: TraceStore, trace_id: str, text: str, *, limit: int = SPAN_MATCH_LIMIT) -> list[str]:
    """The spans of one trace whose inputs or outputs hold every word of ``text``, in start order.

    The full-text index is asked only for rowids in the trace's own rowid range (FTS5 bounds a rowid range
    itself), so a word common to millions of spans costs what it costs within this trace.
    """
    match = fts_query(text)
    if not match:
        return []
    store.index_text()
    rows = store.rows(
        "SELECT s.span_id FROM spans s WHERE s.trace_id = ? AND s.rowid IN (SELECT rowid FROM spans_fts "
        "WHERE spans_fts MATCH ? AND rowid BETWEEN (SELECT min(rowid) FROM spans WHERE trace_id = ?) "
        "AND (SELECT max(rowid) FROM spans WHERE trace_id = ?)) ORDER BY s.start_ns, s.rowid LIMIT ?",
        [trace_id, match, trace_id, trace_id, limit],
    )
    return [r["span_id"] for r in rows]


def feedback_summary(store: TraceStore, trace_ids: Iterable[str]) -> dict[str, list[FeedbackSummary]]:
    """Feedback on each trace itself (not on its spans: a 👎 on one step does not make the answer 👎) for a page
    of traces, through the ``(trace_id, coalesce(span_id, ''), ...)`` feedback index."""
    ids = orjson.dumps(list(trace_ids)).decode()
    rows = store.rows(
        "SELECT trace_id, name, count(*) AS n, avg(CASE WHEN json_type(value) IN ('integer', 'real') "
        "THEN json_extract(value, '$') WHEN json_type(value) = 'true' THEN 1.0 "
        "WHEN json_type(value) = 'false' THEN 0.0 END) AS mean, "
        "sum(json_type(value) = 'true') AS trues, sum(json_type(value) = 'false') AS falses "
        "FROM feedback WHERE trace_id IN (SELECT value FROM json_each(?)) AND coalesce(span_id, '') = '' "
        "GROUP BY trace_id, name ORDER BY name",
        [ids],
    )
    result: dict[str, list[FeedbackSummary]] = {}
    for r in rows:
        result.setdefault(r["trace_id"], []).append(
            FeedbackSummary(r["name"], r["n"], r["mean"], r["trues"], r["falses"])
        )
    return result


def list_sessions(store: TraceStore, *, before_ns: int | None = None, limit: int = 20) -> list[SessionSummary]:
    """Sessions by most recent activity, newest first; pass the last one's ``last_ns`` as ``before_ns`` to page.

    Scans a bounded window of the newest traces for candidate sessions, then aggregates each candidate through
    the ``(session_id, start_ns)`` index. A session with a single trace older than the window shows up on a later
    page, never twice.
    """
    window = store.rows(
        "SELECT DISTINCT session_id FROM (SELECT session_id FROM traces "
        "WHERE session_id IS NOT NULL AND start_ns < ? ORDER BY start_ns DESC LIMIT ?)",
        [before_ns if before_ns is not None else 2**63 - 1, SESSION_WINDOW],
    )
    if not window:
        return []
    sessions = _session_summaries(store, [r["session_id"] for r in window])
    if before_ns is not None:
        sessions = [s for s in sessions if s.last_ns < before_ns]
    return sorted(sessions, key=lambda s: s.last_ns, reverse=True)[:limit]


def get_session(store: TraceStore, session_id: str) -> SessionSummary | None:
    found = _session_summaries(store, [session_id])
    return found[0] if found else None


def _session_summaries(store: TraceStore, session_ids: list[str]) -> list[SessionSummary]:
    rows = store.rows(
        "SELECT session_id, count(*) AS trace_count, min(start_ns) AS first_ns, max(start_ns) AS last_ns, "
        "max(user_id) AS user_id, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
        "sum(error_count) AS error_count FROM traces "
        "WHERE session_id IN (SELECT value FROM json_each(?)) GROUP BY session_id",
        [orjson.dumps(session_ids).decode()],
    )
    return [SessionSummary(**r) for r in rows]


_DAY_NS = 86_400 * 10**9


def trace_time_span(store: TraceStore) -> tuple[int, int] | None:
    """When the oldest and the newest trace started (two seeks on the ``start_ns`` index), or ``None`` when empty."""
    row = store.rows("SELECT (SELECT min(start_ns) FROM traces) AS first, (SELECT max(start_ns) FROM traces) AS last")
    return (row[0]["first"], row[0]["last"]) if row[0]["first"] is not None else None


def overview(store: TraceStore, *, since_ns: int, bucket_ns: int) -> dict[str, Any]:
    """Volume, errors, tokens, cost and latency since ``since_ns``: totals, a time series, a per-model table, and
    cost by day (UTC); a sum of costs is NULL where no call of it has a known cost.

    Counts and sums are exact (a range on the ``start_ns`` index). Latency percentiles (nearest rank, overall and
    per bucket in ``latency``) are exact up to ``LATENCY_SAMPLE`` traces; over it they come from every k-th trace in
    the order they were stored, so the sample spans the whole range and costs one pass over the index plus
    ``LATENCY_SAMPLE`` row reads: ``latency_sampled`` is then ``(traces sampled, traces in the range)``.
    """
    series = store.rows(
        "SELECT (start_ns / ?) * ? AS bucket_ns, count(*) AS traces, sum(error_count > 0) AS errors, "
        "coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens, "
        "sum(cost) AS cost FROM traces WHERE start_ns >= ? GROUP BY 1 ORDER BY 1",
        [bucket_ns, bucket_ns, since_ns],
    )
    total = sum(r["traces"] for r in series)
    every = -(-total // LATENCY_SAMPLE) or 1
    # The rowid is in the start_ns index, so the stride is taken there and only the sampled rows are read.
    durations = store.rows(
        "SELECT (start_ns / ?) * ? AS bucket_ns, duration_ms FROM traces "
        "WHERE start_ns >= ? AND duration_ms IS NOT NULL AND rowid % ? = 0",
        [bucket_ns, bucket_ns, since_ns, every],
    )
    models = facet_values(store, "model")
    # A call reported by nested spans with the same usage (see _writer) is one call: the outermost counts.
    by_model = store.rows(
        "SELECT model, (start_ns / ?) * ? AS bucket_ns, count(*) AS calls, "
        "coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens, "
        "sum(cost) AS cost FROM spans s WHERE model IN (SELECT value FROM json_each(?)) AND start_ns >= ? "
        "AND NOT EXISTS "
        "(SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_id AND p.span_id != s.span_id "
        "AND p.input_tokens IS s.input_tokens AND p.output_tokens IS s.output_tokens "
        "AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)) GROUP BY 1, 2 ORDER BY 2",
        [bucket_ns, bucket_ns, orjson.dumps(models).decode(), since_ns],
    )
    by_day = store.rows(
        "SELECT (start_ns / ?) * ? AS day_ns, sum(cost) AS cost FROM traces WHERE start_ns >= ? AND cost IS NOT NULL "
        "GROUP BY 1 ORDER BY 1",
        [_DAY_NS, _DAY_NS, since_ns],
    )
    ordered = sorted(r["duration_ms"] for r in durations)
    return {
        "series": series,
        "cost_by_day": by_day,
        "latency": _latency_by_bucket(durations),
        "latency_p50": _percentile(ordered, 50),
        "latency_p95": _percentile(ordered, 95),
        "latency_sampled": (len(durations), total) if every > 1 else None,
        "by_model": by_model,
    }


def _latency_by_bucket(durations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    buckets: dict[int, list[float]] = {}
    for r in durations:
        buckets.setdefault(r["bucket_ns"], []).append(r["duration_ms"])
    return [
        {"bucket_ns": b, "p50": _percentile(sorted(d), 50), "p95": _percentile(sorted(d), 95)}
        for b, d in sorted(buckets.items())
    ]


def _percentile(ordered: list[float], percent: int) -> float | None:
    """Nearest rank: the smallest value that at least ``percent``% of the values are at or below."""
    return ordered[(len(ordered) * percent + 99) // 100 - 1] if ordered else None
