"""``TraceStore``: read, search and delete traces in a spanlite store."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from spanlite.tracing.kinds import SpanKind

from . import _text_index, dataset, eval_datasets, eval_runs, expectations, feedback
from ._db import default_db_path, open_connection, write_transaction
from ._schema import REJECTED
from ._writer import IN_PROGRESS
from .eval_datasets import Dataset, DatasetRecord
from .eval_runs import Run, RunResult
from .expectations import Expectation
from .feedback import SOURCES, Feedback, FeedbackDefinition, FeedbackValue, condition_sql
from .filters import Time, TraceFilter, model_base
from .records import Page, SpanRecord, Trace, TraceSummary

if TYPE_CHECKING:
    import pandas
    from sqlite_utils import Database

TRACE_STATUSES = ("OK", "ERROR", IN_PROGRESS)
# A trace's status is its own outcome, its root's. As a filter, ERROR is every trace with a failed span: one the
# root recovered from is a failure all the same to someone looking for failures, and so is one in a trace whose
# root is not stored yet. OK is then what finished with none.
STATUS_FILTERS = {
    "ERROR": "t.error_count > 0",  # what idx_traces_errors_start_ns holds, newest first
    "OK": "t.status = 'OK' AND t.error_count = 0",
    IN_PROGRESS: f"t.status = '{IN_PROGRESS}'",
}
# What each ``order_by`` sorts on, unknown (NULL) below any known value. Those the traces list offers (``SORTS``)
# are each an index (m014) with the trace id after it, written here exactly as the index is.
ORDER_VALUES = {
    "start_ns": "t.start_ns",
    "duration_ms": "t.duration_ms",
    "span_count": "t.span_count",
    "input_tokens": "coalesce(t.input_tokens, -1)",
    "output_tokens": "coalesce(t.output_tokens, -1)",
    "total_tokens": "(coalesce(t.input_tokens, 0) + coalesce(t.output_tokens, 0))",
    "cost": "coalesce(t.cost, -1)",
}
ORDER_COLUMNS = tuple(ORDER_VALUES)
# Spans with their resource's attributes (``SpanRecord.resource``): one lookup by id per span.
SPANS = "SELECT s.*, r.attributes AS resource FROM spans s LEFT JOIN resources r ON r.id = s.resource_id"
MEMBERS_CAP = 1_000  # rows under which "list the matching traces" beats "probe traces newest first"
TEXT_CAP = 1_200  # the same for full-text matches (spans), measured on 1M spans; see _text_index.trace_condition
TEXT_SCAN_CAP = 50_000  # the same when every matching trace is needed (other orders, counts): no early stop
Rows = Callable[[str, Sequence[Any]], list[dict[str, Any]]]
Walk = Literal["newest", "oldest"] | None  # traces in start order, or None: every match is needed (sort, count)
MAX_LIMIT = 1_000
MODEL_IDS_CAP = 1_000  # distinct ids a model filter reads past its name: dated versions are a handful


class TraceStore:
    """A spanlite trace store on one SQLite file; safe to share between threads.

    >>> store = TraceStore("traces.db")  # doctest: +SKIP
    >>> page = store.search_traces(status="ERROR", limit=20)  # doctest: +SKIP
    >>> trace = store.get_trace(page[0].trace_id)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.conn = open_connection(self.path)
        self._lock = threading.Lock()

    @functools.cached_property
    def db(self) -> Database:
        """The store as a sqlite-utils ``Database`` on the same connection, for ad-hoc queries and tools.

        Made on first use: sqlite-utils imports pandas and numpy wherever they are installed (0.6 s with the
        viewer's), which a CLI command or a search must not pay.
        """
        from sqlite_utils import Database

        return Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only query and return dicts; the one place this class touches the connection for reads."""
        with self._lock:
            cursor = self.conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside a write transaction that holds the write lock from its start."""
        with self._lock, write_transaction(self.conn) as conn:
            yield conn

    def get_trace(self, trace_id: str) -> Trace | None:
        """The trace with all its spans in start order, or ``None`` if no span of it has been stored."""
        info = self.rows("SELECT * FROM traces WHERE trace_id = ?", [trace_id])
        if not info:
            return None
        spans = self.rows(f"{SPANS} WHERE s.trace_id = ? ORDER BY s.start_ns, s.rowid", [trace_id])
        return Trace(
            TraceSummary.from_row(info[0]),
            [SpanRecord.from_row(s) for s in spans],
            self.get_feedback(trace_id),
            self.trace_resources(trace_id),
        )

    def trace_resources(self, trace_id: str) -> list[dict[str, Any]]:
        """The attributes of each resource the trace's spans came from (``service.name``, ``host.name``, ...)."""
        rows = self.rows(
            "SELECT r.attributes FROM trace_resources x JOIN resources r ON r.id = x.resource_id "
            "WHERE x.trace_id = ? ORDER BY r.service, r.id",
            [trace_id],
        )
        return [orjson.loads(r["attributes"]) for r in rows]

    def index_text(self) -> None:
        """Bring the full-text index up to date so a text search sees every stored span."""
        try:
            with self.transaction() as conn:
                _text_index.catch_up(conn, limit=None)
        except sqlite3.OperationalError as exc:  # a read-only store: search what is indexed
            if "readonly" not in str(exc):
                raise

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        rows = self.rows(f"{SPANS} WHERE s.trace_id = ? AND s.span_id = ?", [trace_id, span_id])
        return SpanRecord.from_row(rows[0]) if rows else None

    def search_traces(
        self,
        trace_filter: TraceFilter | None = None,
        /,
        *,
        order_by: str = "start_ns",
        ascending: bool = False,
        limit: int = 50,
        page_token: str | None = None,
        **filters: Any,
    ) -> Page:
        """Traces matching a ``TraceFilter`` (or its fields as keywords, which refine one given too), newest first by
        default, one page at a time. Pagination is by keyset: pass the page's ``next_page_token`` to get the next
        page.

        >>> store.search_traces(tags=["prod"], text="refund", feedback="thumbs=false")  # doctest: +SKIP
        >>> store.search_traces(TraceFilter(status="ERROR"), order_by="duration_ms")  # doctest: +SKIP
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        sql, params = page_query(self, TraceFilter.of(trace_filter, filters), order_by, ascending, limit, page_token)
        rows = self.rows(sql, params)
        sort_values = [r.pop("sort_value") for r in rows]
        items = [TraceSummary.from_row(r) for r in rows[:limit]]
        token = _encode_token(sort_values[limit - 1], items[-1].trace_id) if len(rows) > limit else None
        return Page(items, token)

    def count_traces(
        self,
        trace_filter: TraceFilter | None = None,
        /,
        *,
        cap: int = 10_000,
        exclude: Iterable[str] = (),
        **filters: Any,
    ) -> int:
        """How many traces match a ``TraceFilter`` (or its fields), counting up to ``cap`` (a bounded scan).

        ``exclude`` leaves out the given trace ids (e.g. the ones a reviewer skipped).

        >>> store.count_traces(has_feedback=False, tags=["prod"], cap=1000)  # doctest: +SKIP
        """
        where, params = self._where(TraceFilter.of(trace_filter, filters))
        if skipped := list(exclude):
            where.append("t.trace_id NOT IN (SELECT value FROM json_each(?))")
            params.append(orjson.dumps(skipped).decode())
        matching = "SELECT 1 FROM traces t" + (f" WHERE {' AND '.join(where)}" if where else "")
        return int(self.rows(f"SELECT count(*) AS n FROM ({matching} LIMIT ?)", [*params, cap])[0]["n"])

    def _where(self, trace_filter: TraceFilter, walk: Walk = None) -> tuple[list[str], list[Any]]:
        if trace_filter.text:
            self.index_text()
        return _filters(self.rows, trace_filter, walk=walk)

    def iter_traces(
        self,
        trace_filter: TraceFilter | None = None,
        /,
        *,
        order_by: str = "start_ns",
        ascending: bool = False,
        **filters: Any,
    ) -> Iterator[TraceSummary]:
        """Every trace a ``search_traces`` would find, page by page, without loading them all at once."""
        by, token = TraceFilter.of(trace_filter, filters), None  # made once: a generator of tags is read once
        while True:
            page = self.search_traces(by, order_by=order_by, ascending=ascending, limit=MAX_LIMIT, page_token=token)
            yield from page
            if page.next_page_token is None:
                return
            token = page.next_page_token

    def delete_traces(self, trace_ids: Iterable[str] | None = None, *, before: Time | None = None) -> int:
        """Delete the given traces (or every trace that started before ``before``) with their spans, feedback and
        expectations."""
        if trace_ids is None and before is None:
            raise ValueError("delete_traces needs trace_ids or before=; refusing to delete everything")
        if trace_ids is not None:
            ids = list(trace_ids)
        else:
            ids = [r["trace_id"] for r in self.rows("SELECT trace_id FROM traces WHERE start_ns < ?", [_ns(before)])]
        if not ids:
            return 0
        selected = "trace_id IN (SELECT value FROM json_each(?))"
        payload = [orjson.dumps(ids).decode()]
        with self.transaction() as conn:
            deleted = conn.execute(f"DELETE FROM traces WHERE {selected}", payload).rowcount
            for table in ("spans", "trace_tags", "trace_resources", "feedback", "expectations", "score_claims"):
                conn.execute(f"DELETE FROM {table} WHERE {selected}", payload)
            _text_index.after_delete(conn)
        return deleted

    def log_feedback(
        self,
        trace_id: str,
        name: str,
        value: FeedbackValue,
        *,
        span_id: str | None = None,
        source: str = "human",
        author: str | None = None,
        comment: str | None = None,
    ) -> Feedback:
        """Record a judgement on a trace or one of its spans; see ``spanlite.log_feedback``."""
        return feedback.log_feedback(
            self, trace_id, name, value, span_id=span_id, source=source, author=author, comment=comment
        )

    def get_feedback(self, trace_id: str, *, span_id: str | None = None, name: str | None = None) -> list[Feedback]:
        return feedback.get_feedback(self, trace_id, span_id=span_id, name=name)

    def delete_feedback(self, feedback_id: int) -> bool:
        return feedback.delete_feedback(self, feedback_id)

    def define_feedback(
        self,
        name: str,
        type: str,
        *,
        min_value: float | None = None,
        max_value: float | None = None,
        categories: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        """Declare a kind of feedback (``bool``, ``number`` with a range, ``category`` from a list, ``text``).

        >>> store.define_feedback("helpfulness", "number", min_value=1, max_value=5)  # doctest: +SKIP
        """
        cats = list(categories) if categories else None
        feedback.define_feedback(self, FeedbackDefinition(name, type, min_value, max_value, cats, description))

    def feedback_definitions(self) -> dict[str, FeedbackDefinition]:
        return feedback.get_definitions(self)

    def log_expectation(
        self,
        trace_id: str,
        name: str,
        value: Any,
        *,
        span_id: str | None = None,
        source: str = "human",
        author: str | None = None,
    ) -> Expectation:
        """Record the ground truth for a trace or one of its spans; see ``spanlite.log_expectation``."""
        return expectations.log_expectation(self, trace_id, name, value, span_id=span_id, source=source, author=author)

    def get_expectations(
        self, trace_id: str, *, span_id: str | None = None, name: str | None = None
    ) -> list[Expectation]:
        return expectations.get_expectations(self, trace_id, span_id=span_id, name=name)

    def delete_expectation(self, expectation_id: int) -> bool:
        return expectations.delete_expectation(self, expectation_id)

    def create_dataset(
        self, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> Dataset:
        """A new, empty evaluation dataset (version 0); ``ValueError`` if one of that name exists."""
        return eval_datasets.create_dataset(self, name, description=description, tags=tags)

    def get_dataset(self, name: str) -> Dataset | None:
        return eval_datasets.get_dataset(self, name)

    def list_datasets(self) -> list[Dataset]:
        return eval_datasets.list_datasets(self)

    def delete_dataset(self, name: str) -> bool:
        return eval_datasets.delete_dataset(self, name)

    def add_records(self, name: str, records: Iterable[Mapping[str, Any]]) -> list[DatasetRecord]:
        """Add ``{"inputs": {...}, "expectations": {...}}`` records to a dataset as one new version; see
        ``spanlite.store.eval_datasets``."""
        return eval_datasets.add_records(self, name, records)

    def remove_records(self, name: str, record_ids: Iterable[int]) -> int:
        return eval_datasets.remove_records(self, name, record_ids)

    def update_records(self, name: str, updates: Mapping[int, Mapping[str, Any]]) -> list[DatasetRecord]:
        return eval_datasets.update_records(self, name, updates)

    def records(self, name: str, version: int | None = None) -> list[DatasetRecord]:
        """The records of a dataset's version (default: its latest)."""
        return eval_datasets.records(self, name, version)

    def start_run(
        self,
        name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        dataset: str | None = None,
        dataset_version: int | None = None,
        scorers: Sequence[str] = (),
    ) -> str:
        """Record a new evaluation run and return its id; see ``spanlite.store.eval_runs``."""
        return eval_runs.start_run(
            self, name, tags=tags, dataset=dataset, dataset_version=dataset_version, scorers=scorers
        )

    def add_results(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        eval_runs.add_results(self, run_id, rows)

    def add_scores(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        eval_runs.add_scores(self, run_id, rows)

    def finish_run(
        self, run_id: str, metrics: Mapping[str, Any] | None = None, status: str = "finished", error: str | None = None
    ) -> None:
        eval_runs.finish_run(self, run_id, metrics, status, error)

    def get_run(self, run_id: str) -> Run | None:
        return eval_runs.get_run(self, run_id)

    def list_runs(self, *, dataset: str | None = None, limit: int = 50) -> list[Run]:
        return eval_runs.list_runs(self, dataset=dataset, limit=limit)

    def run_results(self, run_id: str) -> list[RunResult]:
        """A run's examples in order, each with its scores."""
        return eval_runs.run_results(self, run_id)

    def dataset_rows(self, trace_filter: TraceFilter | None = None, /, **filters: Any) -> Iterator[dict[str, Any]]:
        """Evaluation rows (root inputs, outputs, feedback columns), one per trace matching the filters."""
        return dataset.dataset_rows(self, trace_filter, **filters)

    def to_dataframe(self, trace_filter: TraceFilter | None = None, /, **filters: Any) -> pandas.DataFrame:
        """``dataset_rows`` as a pandas DataFrame, ready for an evaluation dataset."""
        return dataset.to_dataframe(self, trace_filter, **filters)

    def stats(self) -> dict[str, Any]:
        """Counts and size of the store, including spans that writers had to drop and requests that the OTLP
        receiver refused, per reason (``{"too_large": 2}``; ``docs/otel.md`` lists them)."""
        counts = self.rows(
            "SELECT (SELECT count(*) FROM traces) AS traces, (SELECT count(*) FROM spans) AS spans, "
            "(SELECT count(*) FROM feedback) AS feedback, "
            "(SELECT coalesce(max(value), 0) FROM counters WHERE name = 'dropped_spans') AS dropped_spans, "
            "(SELECT min(start_ns) FROM traces) AS oldest_ns, (SELECT max(start_ns) FROM traces) AS newest_ns"
        )[0]
        rejected = self.rows(
            f"SELECT substr(name, {len(REJECTED) + 1}) AS reason, value FROM counters WHERE name LIKE ? ORDER BY name",
            [REJECTED + "%"],
        )
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {
            **counts,
            "rejected_requests": {r["reason"]: r["value"] for r in rejected},
            "path": str(self.path),
            "size_bytes": size,
        }


def page_query(
    store: TraceStore, by: TraceFilter, order_by: str, ascending: bool, limit: int, page_token: str | None
) -> tuple[str, list[Any]]:
    """The SQL of one keyset page (and one row more, to know whether another follows), and its values.

    The cursor is "at or past the last value, and past its trace id if tied": a range on the order's index, whose
    rows are read in order until the page is full; only rows that tie on the value are sorted by trace id.
    """
    if order_by not in ORDER_VALUES:
        raise ValueError(f"order_by must be one of {', '.join(ORDER_COLUMNS)}, not {order_by!r}")
    walk: Walk = ("oldest" if ascending else "newest") if order_by == "start_ns" else None
    where, params = store._where(by, walk)
    value = ORDER_VALUES[order_by]
    direction, compare = ("ASC", ">") if ascending else ("DESC", "<")
    if page_token is not None:
        last_value, last_id = _decode_token(page_token)
        where.append(f"{value} {compare}= ? AND ({value} {compare} ? OR t.trace_id {compare} ?)")
        params += [last_value, last_value, last_id]
    sql = (
        f"SELECT t.*, {value} AS sort_value FROM traces t"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {value} {direction}, t.trace_id {direction} LIMIT ?"
    )
    return sql, [*params, limit + 1]


class _Subsets:
    """Pick, per filter, the cheaper of two exact plans for "traces that have such a span/tag/rating".

    Few matching rows: list them (``trace_id IN (...)``). Many: walk traces newest first and probe each one
    (``EXISTS``), which stops as soon as a page is full. A capped count decides, so neither plan ever walks a
    million rows to fill a page of fifty.
    """

    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def __call__(self, table: str, condition: str, params: list[Any]) -> tuple[str, ...]:
        """Rows of ``table`` (aliased ``x``) meeting ``condition``; a ``+`` in the probe keeps SQLite on the
        trace_id index there instead of the condition's own index."""
        members = f"SELECT x.trace_id FROM {table} x WHERE {condition}"
        probe_condition = condition.replace("x.", "+x.", 1)
        probe = f"EXISTS (SELECT 1 FROM {table} x WHERE x.trace_id = t.trace_id AND {probe_condition})"
        return self.choose(f"SELECT 1 FROM {table} x WHERE {condition}", members, probe, params, cap=MEMBERS_CAP)

    def choose(self, count: str, members: str, probe: str, params: list[Any], *, cap: int) -> tuple[Any, ...]:
        """``count`` selects the matching rows as cheaply as possible (from an index alone, if it can)."""
        _check_values(params)
        n = self.rows(f"SELECT count(*) AS n FROM ({count} LIMIT {cap})", params)[0]["n"]
        return (f"t.trace_id IN ({members})" if n < cap else probe, *params)


def _filters(rows: Rows, by: TraceFilter, *, walk: Walk = None) -> tuple[list[str], list[Any]]:
    """The conditions on ``traces t`` that keep what ``by`` asks for, and their values."""
    where: list[str] = []
    params: list[Any] = []
    subset = _Subsets(rows)

    def add(clause: str, *values: Any) -> None:
        _check_values(values)
        where.append(clause)
        params.extend(values)

    if by.since is not None:
        add("t.start_ns >= ?", _ns(by.since))
    if by.until is not None:
        add("t.start_ns < ?", _ns(by.until))
    if by.name:
        add("t.name LIKE ? ESCAPE '\\'", f"%{_escape_like(by.name)}%")
    if by.status is not None:
        if by.status.upper() not in TRACE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(TRACE_STATUSES)}, not {by.status!r}")
        add(STATUS_FILTERS[by.status.upper()])
    if by.kind is not None:
        kind_value = SpanKind.parse(by.kind).value
        add(*subset("spans", "x.kind = ?", [kind_value]))
    if by.model:
        _check_values([by.model])  # before it is looked up, and then sent as JSON, where a NUL passes escaped
        models = orjson.dumps(model_ids(rows, by.model)).decode()
        add(*subset("spans", "x.model IN (SELECT value FROM json_each(?))", [models]))
    if by.service:
        in_service = "x.resource_id IN (SELECT id FROM resources WHERE service = ?)"
        add(*subset("trace_resources", in_service, [by.service]))
    for tag in by.tags or ():
        add(*subset("trace_tags", "x.tag = ?", [str(tag)]))
    if by.feedback_source is not None and by.feedback_source not in SOURCES:
        raise ValueError(f"feedback_source must be one of {', '.join(SOURCES)}, not {by.feedback_source!r}")
    from_source, source_params = (" AND x.source = ?", [by.feedback_source]) if by.feedback_source else ("", [])
    # Feedback on the trace itself, unless asked for its spans' too; written as the feedback key index's own
    # expression, so a probe of one trace seeks (trace_id, '') there.
    on_trace = "" if by.feedback_on_spans else " AND coalesce(x.span_id, '') = ''"
    conditions = [by.feedback] if isinstance(by.feedback, (str, tuple)) else list(by.feedback or ())
    for condition in conditions:
        clause, values = condition_sql(condition)
        add(*subset("feedback", clause + on_trace + from_source, values + source_params))
    if by.has_feedback is not None:
        exists = f"EXISTS (SELECT 1 FROM feedback x WHERE x.trace_id = t.trace_id{on_trace}{from_source})"
        add(("" if by.has_feedback else "NOT ") + exists, *source_params)
    for key, value in (by.metadata or {}).items():
        add("json_extract(t.metadata, ?) = ?", _json_path(key), value)
    if by.session_id is not None:
        add("t.session_id = ?", by.session_id)
    if by.user_id is not None:
        add("t.user_id = ?", by.user_id)
    if by.min_duration_ms is not None:
        add("t.duration_ms >= ?", float(by.min_duration_ms))
    if by.max_duration_ms is not None:
        add("t.duration_ms <= ?", float(by.max_duration_ms))
    if by.min_cost is not None:
        add("t.cost >= ?", float(by.min_cost))
    if by.text and (match := fts_query(by.text)):
        _check_values([match])
        # Probing pays off sooner when a page in start order can stop the walk early.
        cap = TEXT_CAP if walk else TEXT_SCAN_CAP
        add(*_text_index.trace_condition(rows, match, cap=cap, newest_first=walk == "newest"))
    return where, params


def model_ids(rows: Rows, model: str) -> list[str]:
    """``model`` and the dated ids of it the store holds (``gpt-4o-mini-2024-07-18`` for ``gpt-4o-mini``).

    A loose scan of the model index from ``model-`` for as long as ids start so (one seek per distinct id), then
    only the ids that are ``model`` and a date: ``gpt-4o`` does not take in ``gpt-4o-mini``.
    """
    prefix = f"{model}-"
    sql = (
        "WITH RECURSIVE v(x) AS (SELECT min(model) FROM spans WHERE model >= ? "
        "UNION ALL SELECT (SELECT min(model) FROM spans WHERE model > v.x) FROM v WHERE substr(v.x, 1, ?) = ?) "
        "SELECT x FROM v WHERE substr(x, 1, ?) = ? LIMIT ?"
    )
    found = rows(sql, [prefix, len(prefix), prefix, len(prefix), prefix, MODEL_IDS_CAP])
    return [model, *(r["x"] for r in found if model_base(r["x"]) == model)]


def _check_values(values: Iterable[Any]) -> None:
    """Refuse filter values SQLite cannot take as they are, with a clear message."""
    for value in values:
        if isinstance(value, str) and "\x00" in value:  # SQLite would cut the text there, matching more
            raise ValueError("search filters cannot contain NUL characters")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise ValueError(f"search filter number {value} is out of range for the store (64-bit integers)")


def fts_query(text: str) -> str:
    """Each word of ``text`` as a quoted FTS5 term, so user input can never be FTS syntax."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in text.split())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json_path(key: str) -> str:
    return '$."' + str(key).replace('"', '\\"') + '"'


def _ns(value: Time | None) -> int:
    """Nanoseconds since the epoch from a datetime (naive means UTC) or epoch seconds, held to SQLite's integers:
    a time past 2262 (``before=datetime(9999, 1, 1)``) means the end of time rather than an ``OverflowError``."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(-(1 << 63), min(int(value * 1e9), (1 << 63) - 1))
    raise TypeError(f"expected a datetime or epoch seconds, got {type(value).__name__}")


def _encode_token(value: Any, trace_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([value, trace_id])).decode()


def _decode_token(token: str) -> tuple[Any, str]:
    try:
        value, trace_id = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(trace_id, str) or not isinstance(value, (int, float)):
            raise ValueError
    except (ValueError, TypeError, orjson.JSONDecodeError, sqlite3.Error):
        raise ValueError(f"invalid page_token {token!r}") from None
    return value, trace_id
