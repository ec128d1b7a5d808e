"""Write a batch of span rows in one transaction and fold them into the ``traces`` summaries.

Spans of one trace arrive in any order and in many batches (children usually before their root), from any
number of processes. Each batch takes the write lock first, inserts only spans it has not seen, and merges just
those into the trace rows, so summaries stay exact however the spans are split. Text is indexed later
(``_text_index``).
"""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any

import orjson

from spanlite.tracing import attributes as attr
from spanlite.tracing.serialize import MAX_FIELD_BYTES

from . import _text_index
from ._db import write_transaction
from ._rows import SPAN_COLUMNS, clamp_int64, clean_rows
from .previews import preview

IN_PROGRESS = "IN_PROGRESS"  # trace status until its root span has arrived

_TRACE_COLUMNS = (
    "trace_id", "name", "start_ns", "end_ns", "duration_ms", "status", "root_span_id", "session_id", "user_id",
    "tags", "metadata", "input_preview", "output_preview", "span_count", "input_tokens", "output_tokens",
    "error_count", "cost",
)  # fmt: skip
_UPSERT_TRACE = (
    f"INSERT OR REPLACE INTO traces ({', '.join(_TRACE_COLUMNS)}) VALUES ({', '.join('?' * len(_TRACE_COLUMNS))})"
)
# A model call reported by nested spans (an instrumented framework over an instrumented model, say LlamaIndex's
# chat over its own complete) carries the same usage on each: a span whose parent has the same usage is that call
# again and adds nothing to its trace. The partial index (trace_id, parent_id) finds a new span's stored children.
_HAS_USAGE = "(input_tokens IS NOT NULL OR output_tokens IS NOT NULL)"
_PARENTS_WITH_USAGE = (
    "SELECT trace_id, span_id, input_tokens, output_tokens FROM spans WHERE (trace_id, span_id) IN "
    f"(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)) AND {_HAS_USAGE}"
)
_CHILDREN_WITH_USAGE = (
    "SELECT trace_id, span_id, parent_id, input_tokens, output_tokens, cost FROM spans WHERE (trace_id, parent_id) IN "
    f"(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)) AND {_HAS_USAGE}"
)
_trace_values = operator.itemgetter(*_TRACE_COLUMNS)
_by_start = operator.itemgetter("start_ns")


def write_spans(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Store ``rows`` (from ``_rows.span_row``) atomically; returns how many were new.

    A lone surrogate in any text (a str built by hand, an OTLP/JSON ``\\ud800``) is no UTF-8: SQLite cannot bind
    it, nor orjson write it. Rather than check every string of every batch, the rare batch refused for it is
    written again with such characters replaced by U+FFFD, so that one odd span loses neither itself nor the rest.
    """
    if not rows:
        return 0
    try:
        return _write(conn, rows)
    except (UnicodeEncodeError, orjson.JSONEncodeError):  # rolled back: nothing of it is stored yet
        return _write(conn, clean_rows(rows))


def _write(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> int:
    with write_transaction(conn):
        _resource_ids(conn, rows)
        new_rows = _insert_new(conn, rows)
        if new_rows:
            _merge_traces(conn, new_rows)
    return len(new_rows)


def index_text(conn: sqlite3.Connection, limit: int | None = _text_index.CHUNK) -> int:
    """Catch the full-text index up by up to ``limit`` spans; returns how many it indexed."""
    with write_transaction(conn):
        return _text_index.catch_up(conn, limit)


# A resource's row, made once; its service (to search by) from its text, what was stored after any redaction.
# ``unknown_service`` is what an OTel SDK says when the app named none: no service to search by.
_ADD_RESOURCE = (
    "INSERT OR IGNORE INTO resources (service, attributes) SELECT CASE WHEN service NOT LIKE 'unknown_service%' "
    "THEN service END, :text FROM (SELECT CASE WHEN json_valid(:text) "
    "THEN json_extract(:text, '$.\"service.name\"') END AS service)"
)


def _resource_ids(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Set each row's ``resource_id`` from its resource's text (``_rows.span_row``), which the spans of a batch
    nearly always share: one lookup per resource, not per span."""
    ids: dict[str, int] = {}
    for row in rows:
        if (text := row["resource"]) is None:
            continue
        if (resource_id := ids.get(text)) is None:
            conn.execute(_ADD_RESOURCE, {"text": text})  # named: Python 3.12 warns on numbered with a sequence
            (resource_id,) = conn.execute("SELECT id FROM resources WHERE attributes = ?", [text]).fetchone()
            ids[text] = resource_id
        row["resource_id"] = resource_id


def _insert_new(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    fresh: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        fresh.setdefault((row["trace_id"], row["span_id"]), row)  # a span sent twice in one batch counts once
    unique = list(fresh.values())
    # Spans are nearly always new. Rowids grow past the largest one, so when fewer rows were inserted than sent,
    # the rows above it are the new ones; asking which spans exist before inserting would cost every batch.
    largest = conn.execute("SELECT coalesce(max(rowid), 0) FROM spans").fetchone()[0]
    changes = conn.total_changes
    insert, values = _insert_for(unique)
    conn.executemany(insert, map(values, unique))
    if conn.total_changes - changes == len(unique):
        return unique
    inserted = set(conn.execute("SELECT trace_id, span_id FROM spans WHERE rowid > ?", [largest]))
    return [row for row in unique if (row["trace_id"], row["span_id"]) in inserted]


@functools.lru_cache(maxsize=64)
def _insert(columns: tuple[str, ...]) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]:
    sql = f"INSERT OR IGNORE INTO spans ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return sql, operator.itemgetter(*columns)


def _insert_for(rows: Sequence[dict[str, Any]]) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """The insert for ``rows`` without the columns none of them fills (links, a status message, token counts...):
    binding a None costs CPython's ``sqlite3`` about 3,000 instructions (it formats an AttributeError for the
    adapter it looks for, then drops it), more than the rest of the value's insert. Such columns are left NULL."""
    return _insert(tuple(c for c in SPAN_COLUMNS if any(row[c] is not None for row in rows)))


def _merge_traces(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_trace.setdefault(row["trace_id"], []).append(row)
    ids = orjson.dumps(list(by_trace)).decode()
    conn.row_factory = sqlite3.Row
    try:
        existing = {
            r["trace_id"]: dict(r)
            for r in conn.execute("SELECT * FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))", [ids])
        }
    finally:
        conn.row_factory = None
    repeats, taken_back = _repeated_usage(conn, rows, existing)
    merged = [
        _merge(existing.get(trace_id), spans, repeats, taken_back.get(trace_id)) for trace_id, spans in by_trace.items()
    ]
    conn.executemany(_UPSERT_TRACE, map(_trace_values, merged))
    tags = [(tag, t["trace_id"]) for t in merged for tag in orjson.loads(t["tags"] or "[]")]
    conn.executemany("INSERT OR IGNORE INTO trace_tags (tag, trace_id) VALUES (?, ?)", tags)
    if resources := {(row["resource_id"], row["trace_id"]) for row in rows if row["resource_id"] is not None}:
        conn.executemany("INSERT OR IGNORE INTO trace_resources (resource_id, trace_id) VALUES (?, ?)", resources)


def _repeated_usage(
    conn: sqlite3.Connection, rows: list[dict[str, Any]], earlier: Container[str]
) -> tuple[set[tuple[str, str]], dict[str, tuple[int, int, float | None]]]:
    """Of new ``rows`` (stored already): (trace id, span id) of those that repeat their parent's usage, which add
    nothing; and per trace the usage of spans stored before that repeat a new one's, added while their parent was
    missing, to take back. Only traces in ``earlier`` (the ones this batch adds to) can have spans stored before.

    A span's parent arrives at most once, so whether a span adds is settled when it arrives or when its parent
    does; in any order and any batches, each call reported by a chain of nested spans counts once.
    """
    by_key = {(r["trace_id"], r["span_id"]): r for r in rows}
    repeats: set[tuple[str, str]] = set()
    since: list[tuple[str, str]] = []  # spans with usage whose stored children may repeat it
    lookups: dict[tuple[str, str], tuple[str, str]] = {}  # span with usage → its parent, stored before
    for key, row in by_key.items():
        usage = _usage(row)
        if usage == (None, None):
            continue
        if stored_before := key[0] in earlier:
            since.append(key)
        if (parent_id := row["parent_id"]) is None or parent_id == key[1]:
            continue
        if (parent := by_key.get((key[0], parent_id))) is not None:
            if _usage(parent) == usage:
                repeats.add(key)
        elif stored_before:
            lookups[key] = (key[0], parent_id)
    if lookups:
        found = conn.execute(_PARENTS_WITH_USAGE, [orjson.dumps(list(lookups.values())).decode()])
        parents = {(t, s): (i, o) for t, s, i, o in found}
        repeats.update(k for k, p in lookups.items() if parents.get(p) == _usage(by_key[k]))
    taken_back: dict[str, tuple[int, int, float | None]] = {}
    if since:
        for trace_id, span_id, parent_id, input_tokens, output_tokens, cost in conn.execute(
            _CHILDREN_WITH_USAGE, [orjson.dumps(since).decode()]
        ):
            repeated = _usage(by_key[trace_id, parent_id]) == (input_tokens, output_tokens)
            if repeated and (trace_id, span_id) not in by_key:
                total_in, total_out, total_cost = taken_back.get(trace_id, (0, 0, None))
                if cost is not None:
                    total_cost = (total_cost or 0.0) + cost
                taken_back[trace_id] = (total_in + (input_tokens or 0), total_out + (output_tokens or 0), total_cost)
    return repeats, taken_back


def _usage(row: dict[str, Any]) -> tuple[int | None, int | None]:
    return row["input_tokens"], row["output_tokens"]


def _merge(
    trace: dict[str, Any] | None,
    spans: list[dict[str, Any]],
    repeats: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    taken_back: tuple[int, int, float | None] | None = None,
) -> dict[str, Any]:
    """Fold new spans into a trace summary (``None``: the first spans of this trace); spans in ``repeats`` add no
    usage nor cost, and ``taken_back`` (input, output tokens, cost) is taken off the totals (``_repeated_usage``)."""
    first = spans[0]
    t = trace or {
        "trace_id": first["trace_id"], "name": first["name"], "start_ns": first["start_ns"],
        "end_ns": first["end_ns"], "status": IN_PROGRESS, "root_span_id": None, "session_id": None,
        "user_id": None, "tags": None, "metadata": None, "input_preview": None, "output_preview": None,
        "span_count": 0, "input_tokens": None, "output_tokens": None, "error_count": 0, "cost": None,
    }  # fmt: skip
    tags: list[str] = orjson.loads(t["tags"]) if t["tags"] else []
    metadata: dict[str, Any] = orjson.loads(t["metadata"]) if t["metadata"] else {}
    # Every stored span passes through here once, in the writer: totals are kept in locals, absent values skipped.
    start_ns, end_ns, input_tokens, output_tokens = t["start_ns"], t["end_ns"], t["input_tokens"], t["output_tokens"]
    cost = t.get("cost")
    errors = 0
    for span in sorted(spans, key=_by_start):
        if span["start_ns"] < start_ns:
            start_ns = span["start_ns"]
        if span["end_ns"] > end_ns:
            end_ns = span["end_ns"]
        if span["status"] == "ERROR":
            errors += 1
        if (span["input_tokens"] is not None or span["output_tokens"] is not None) and (
            span["trace_id"],
            span["span_id"],
        ) not in repeats:
            if span["input_tokens"] is not None:
                input_tokens = (input_tokens or 0) + span["input_tokens"]
            if span["output_tokens"] is not None:
                output_tokens = (output_tokens or 0) + span["output_tokens"]
            if span.get("cost") is not None:
                cost = (cost or 0.0) + span["cost"]
        # The trace's root, or failing that the root of one process's part of it (its parent is remote and may
        # never reach this store): without it a trace continued from another service would stay IN_PROGRESS.
        if span["parent_id"] is None or (span.get("parent_is_remote") and t["root_span_id"] is None):
            t["name"] = span["name"]
            t["root_span_id"] = span["span_id"]
            t["status"] = "ERROR" if span["status"] == "ERROR" else "OK"
            t["input_preview"] = preview(span["inputs"])
            t["output_preview"] = preview(span["outputs"])
        elif t["root_span_id"] is None and span["start_ns"] <= start_ns:
            t["name"] = span["name"]  # until the root arrives, name the trace after its earliest span
        if not (span_attributes := span.get("trace_facts")):
            continue
        if new_tags := span_attributes.get(attr.TRACE_TAGS):
            tags = list(dict.fromkeys([*tags, *_json_list(new_tags)]))
        if new_metadata := span_attributes.get(attr.TRACE_METADATA):
            metadata.update(_json_dict(new_metadata))
        t["session_id"] = _text(span_attributes.get(attr.SESSION_ID)) or t["session_id"]
        t["user_id"] = _text(span_attributes.get(attr.USER_ID)) or t["user_id"]
    if taken_back is not None:
        input_tokens = None if input_tokens is None else input_tokens - taken_back[0]
        output_tokens = None if output_tokens is None else output_tokens - taken_back[1]
        if cost is not None and taken_back[2] is not None:
            cost -= taken_back[2]
    # Each span's count fits SQLite's integers (``span_row``); a trace's sum of them need not.
    input_tokens = None if input_tokens is None else clamp_int64(input_tokens)
    output_tokens = None if output_tokens is None else clamp_int64(output_tokens)
    t["start_ns"], t["end_ns"], t["input_tokens"], t["output_tokens"] = start_ns, end_ns, input_tokens, output_tokens
    t["cost"] = cost
    t["span_count"] += len(spans)
    t["error_count"] += errors
    t["tags"] = _bounded_json(tags) if tags else None
    t["metadata"] = _bounded_json(metadata) if metadata else None
    t["duration_ms"] = (t["end_ns"] - t["start_ns"]) / 1e6
    return t


def _bounded_json(merged: list[str] | dict[str, Any]) -> str:
    """A trace's tags or metadata as JSON, the first ones that fit the field bound: each span's own are bounded, but
    a trace of many spans could add up to any size."""
    text = orjson.dumps(merged).decode()
    if len(text) <= MAX_FIELD_BYTES:
        return text
    items: list[Any] = list(merged.items()) if isinstance(merged, dict) else merged
    size, keep = 2, 0
    for item in items:
        size += len(orjson.dumps(item)) + 1  # a tag, or a [key, value] pair about as long as "key":value
        if size > MAX_FIELD_BYTES:
            break
        keep += 1
    kept = dict(items[:keep]) if isinstance(merged, dict) else items[:keep]
    return orjson.dumps(kept).decode()


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _json_list(value: Any) -> Iterable[str]:
    items = _loads(value) if isinstance(value, str) else value
    return [str(i) for i in items] if isinstance(items, (list, tuple)) else [str(items)]


def _json_dict(value: Any) -> dict[str, Any]:
    items = _loads(value) if isinstance(value, str) else value
    return dict(items) if isinstance(items, dict) else {}


def _loads(text: str) -> Any:
    """Trace-level attributes may come from any OTel SDK: text that is not JSON is taken as it is."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
