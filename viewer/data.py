"""The viewer's one path to the store: pages ask here and never see SQL or a connection.

The store is opened once per database file (``$SPANLITE_DB``, else the default store) and shared by every
session; SQLite in WAL mode lets the viewer read while the traced app writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import itertools
import os
from pathlib import Path
from typing import Any

import orjson
import streamlit as st

from spanlite.evaluation import RunComparison, compare_runs
from spanlite.evaluation import datasets as eval_datasets
from spanlite.store import (
    Dataset,
    DatasetRecord,
    Page,
    Run,
    RunResult,
    SpanRecord,
    TraceFilter,
    TraceStore,
    TraceSummary,
    default_db_path,
    eval_views,
    views,
)
from spanlite.store.feedback import Feedback, FeedbackDefinition, FeedbackValue, parse_condition
from spanlite.store.filters import SORTS, model_base
from spanlite.store.previews import preview
from spanlite.store.records import json_line
from spanlite.store.views import FeedbackSummary, SessionSummary, SpanNode

PAGE_SIZE = 50
LIVE_INTERVAL_S = 3.0
TIME_RANGES: dict[str, dt.timedelta | None] = {
    "Last 15 minutes": dt.timedelta(minutes=15),
    "Last hour": dt.timedelta(hours=1),
    "Last 24 hours": dt.timedelta(days=1),
    "Last 7 days": dt.timedelta(days=7),
    "Last 30 days": dt.timedelta(days=30),
    "All time": None,
}
THUMBS = "thumbs"
# What the viewer offers until someone defines feedback of their own (``define_feedback``).
DEFAULT_DEFINITIONS = {
    THUMBS: FeedbackDefinition(THUMBS, "bool", description="Was this good?"),
    "score": FeedbackDefinition("score", "number", min_value=1, max_value=5, description="1 (bad) to 5 (great)"),
    "label": FeedbackDefinition("label", "text", description="A short label, e.g. hallucination"),
}
FEEDBACK_STATES = ("Any", "Unrated", "Rated", "Thumbs down", "Thumbs up")


@dataclasses.dataclass(frozen=True)
class FilterForm:
    """What the traces page's filter controls hold: the filters they set as they are, and the two that depend on
    when and on which feedback is defined. It stays equal across reruns (a relative time range, not a start time),
    so the page keeps its place until someone changes a control."""

    filters: TraceFilter
    time_range: str = "All time"
    feedback: str = "Any"  # one of FEEDBACK_STATES
    feedback_condition: str = ""  # e.g. "score<3"
    sort: str = "newest"  # one of SORTS
    date_from: dt.date | None = None  # days, both included; within the time range as well
    date_to: dt.date | None = None
    metadata: str = ""  # e.g. "env=prod, team=search"
    local_days: bool = False  # the days are local ones (the viewer's server's), else UTC days

    def _midnight(self, day: dt.date) -> dt.datetime:
        """The day's start, in local time (a naive datetime's ``astimezone`` reads it as local, DST included) or
        UTC."""
        start = dt.datetime.combine(day, dt.time())
        return start.astimezone() if self.local_days else start.replace(tzinfo=dt.UTC)

    def trace_filter(self, now: dt.datetime | None = None, thumbs: str = THUMBS) -> TraceFilter:
        """The search it asks for; raises ``ValueError`` for a feedback or metadata condition that does not
        parse."""
        span = TIME_RANGES.get(self.time_range)
        since = (now or dt.datetime.now(dt.UTC)) - span if span is not None else None
        if self.date_from is not None:
            start = self._midnight(self.date_from)
            since = start if since is None else max(since, start)
        until = None
        if self.date_to is not None:
            until = self._midnight(self.date_to + dt.timedelta(days=1))
        conditions: list[tuple[str, str, FeedbackValue]] = []
        if self.feedback in ("Thumbs down", "Thumbs up"):
            conditions.append((thumbs, "=", self.feedback == "Thumbs up"))
        if self.feedback_condition.strip():
            conditions.append(parse_condition(self.feedback_condition))
        has_feedback = {"Unrated": False, "Rated": True}.get(self.feedback)
        return dataclasses.replace(
            self.filters,
            since=since,
            until=until,
            feedback=conditions or None,
            has_feedback=has_feedback,
            metadata=parse_metadata(self.metadata) or None,
        )


def parse_metadata(text: str) -> dict[str, Any]:
    """``key=value`` pairs, comma-separated, as a metadata filter: a value that reads as a JSON number or boolean is
    one (``turn=2``), anything else is text."""
    found: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"metadata filters are key=value, comma-separated: not {pair!r}")
        try:
            parsed = orjson.loads(value.strip())
        except orjson.JSONDecodeError:
            parsed = value.strip()
        found[key.strip()] = parsed if isinstance(parsed, (int, float, bool)) else value.strip()
    return found


def db_path() -> Path:
    """``$SPANLITE_DB`` (what ``spanlite ui --db`` sets), else the default store."""
    return default_db_path().resolve()


@st.cache_resource(show_spinner=False, on_release=TraceStore.close)
def _open(path: str) -> TraceStore:
    return TraceStore(path)


def store() -> TraceStore:
    return _open(str(db_path()))


def live_interval() -> float | None:
    """Seconds between automatic refreshes when the sidebar's live toggle is on, else ``None``."""
    return LIVE_INTERVAL_S if st.session_state.get("live", False) else None


@st.cache_data(ttl=30, show_spinner=False)
def _stats(path: str) -> dict[str, Any]:
    return _open(path).stats()


def stats() -> dict[str, Any]:
    """Store counts; cached briefly because counting a million spans on every click is not free."""
    return _stats(str(db_path()))


@st.cache_data(ttl=30, show_spinner=False)
def _facet(path: str, facet: str) -> list[str]:
    return views.facet_values(_open(path), facet)


def facet(facet: str) -> list[str]:
    """Choices for a filter (``model``, ``kind``, ``tag``, ``service``)."""
    return _facet(str(db_path()), facet)


def clear_caches() -> None:
    _stats.clear()
    _facet.clear()
    _overview.clear()
    _trace_time_span.clear()
    _comparison.clear()
    _count_records.clear()
    _count.clear()


def search(form: FilterForm, page_token: str | None) -> Page:
    trace_filter = form.trace_filter(thumbs=thumbs_name(definitions()))
    order_by, ascending = SORTS[form.sort]
    return store().search_traces(
        trace_filter, order_by=order_by, ascending=ascending, limit=PAGE_SIZE, page_token=page_token
    )


# How many traces the list says match: counted up to this many, then "10,000+" (a bounded scan of an index).
COUNT_CAP = 10_000


@st.cache_data(ttl=30, show_spinner=False)
def _count(path: str, form: str, cap: int, _trace_filter: TraceFilter) -> int:
    return _open(path).count_traces(_trace_filter, cap=cap)


def count(form: FilterForm) -> str:
    """How many traces match, as the list says it ("1,234" or "10,000+"); cached briefly per filter form, so
    paging, selecting and live refreshes do not count again."""
    trace_filter = form.trace_filter(thumbs=thumbs_name(definitions()))
    n = _count(str(db_path()), repr(dataclasses.replace(form, sort="")), COUNT_CAP + 1, trace_filter)
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else f"{n:,}"


def preview_text(stored: str | None) -> str:
    """A trace's input or output preview as text, also when an older spanlite stored it as JSON."""
    return preview(stored) or ""


def model_names() -> list[str]:
    """The model filter's choices: each model once, without the dates of its versions (``gpt-4o-mini`` for
    ``gpt-4o-mini-2024-07-18`` too), which the filter matches."""
    return sorted({model_base(m) for m in facet("model")})


# A download of the listed traces builds at most this much in the viewer's memory; the CLI exports any number.
EXPORT_MAX_TRACES = 1_000
EXPORT_MAX_BYTES = 64 * 1024 * 1024


def export_jsonl(form: FilterForm, *, max_traces: int = EXPORT_MAX_TRACES, max_bytes: int = EXPORT_MAX_BYTES) -> bytes:
    """The matching traces, whole, as ``spanlite traces export`` writes them (one JSON line each, in the list's
    order): the first ``max_traces``, stopping before the line that would pass ``max_bytes``."""
    trace_filter = form.trace_filter(thumbs=thumbs_name(definitions()))
    order_by, ascending = SORTS[form.sort]
    lines: list[bytes] = []
    size = 0
    for summary in store().iter_traces(trace_filter, order_by=order_by, ascending=ascending):
        trace = store().get_trace(summary.trace_id)
        if trace is None:  # deleted since it was listed
            continue
        line = json_line(trace.to_dict())
        if len(lines) == max_traces or size + len(line) > max_bytes:
            break
        lines.append(line)
        size += len(line)
    return b"".join(lines)


def matching_trace_ids(form: FilterForm, limit: int = EXPORT_MAX_TRACES) -> list[str]:
    """The first ``limit`` traces the list matches, in its order: what "Add to dataset" adds from the list."""
    trace_filter = form.trace_filter(thumbs=thumbs_name(definitions()))
    order_by, ascending = SORTS[form.sort]
    found = store().iter_traces(trace_filter, order_by=order_by, ascending=ascending)
    return [t.trace_id for t in itertools.islice(found, limit)]


def session_traces(session_id: str, page_token: str | None) -> Page:
    """A session's traces oldest first, so they read as a conversation."""
    return store().search_traces(session_id=session_id, ascending=True, limit=PAGE_SIZE, page_token=page_token)


def feedback(trace_ids: list[str]) -> dict[str, list[FeedbackSummary]]:
    return views.feedback_summary(store(), trace_ids) if trace_ids else {}


def trace_summary(trace_id: str) -> TraceSummary | None:
    return views.trace_summary(store(), trace_id)


def services(trace_ids: list[str]) -> dict[str, list[str]]:
    return views.trace_services(store(), trace_ids) if trace_ids else {}


def trace_resources(trace_id: str) -> list[dict[str, Any]]:
    return store().trace_resources(trace_id)


def stored_traces(trace_ids: set[str]) -> set[str]:
    """Which of these traces the store holds, so that a link to one can open it."""
    return views.stored_traces(store(), trace_ids) if trace_ids else set()


def span_tree(trace_id: str) -> list[SpanNode]:
    return views.span_tree(store(), trace_id)


def span_text_matches(trace_id: str, text: str) -> list[str]:
    """Ids of the trace's spans whose inputs or outputs hold every word of ``text`` (the store searches)."""
    return views.span_text_matches(store(), trace_id, text)


def span(trace_id: str, span_id: str) -> SpanRecord | None:
    return store().get_span(trace_id, span_id)


def spans(ids: list[tuple[str, str]]) -> dict[tuple[str, str], SpanRecord]:
    return views.get_spans(store(), ids)


def trace_json(trace_id: str) -> bytes:
    """The whole trace as pretty JSON, built only when someone downloads it."""
    trace = store().get_trace(trace_id)
    value = trace.to_dict() if trace is not None else {"trace_id": trace_id, "error": "not found"}
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


def sessions(before_ns: int | None, limit: int = 20) -> list[SessionSummary]:
    return views.list_sessions(store(), before_ns=before_ns, limit=limit)


def session(session_id: str) -> SessionSummary | None:
    return views.get_session(store(), session_id)


@st.cache_data(ttl=10, show_spinner=False)
def _overview(path: str, since_ns: int, bucket_ns: int) -> dict[str, Any]:
    return views.overview(_open(path), since_ns=since_ns, bucket_ns=bucket_ns)


def overview(since_ns: int, bucket_ns: int) -> dict[str, Any]:
    """Cached for a few seconds: over a week of a busy store this reads every trace in the range."""
    return _overview(str(db_path()), since_ns, bucket_ns)


@st.cache_data(ttl=10, show_spinner=False)
def _trace_time_span(path: str) -> tuple[int, int] | None:
    return views.trace_time_span(_open(path))


def trace_time_span() -> tuple[int, int] | None:
    """When the oldest and the newest trace started (ns), or ``None`` for an empty store."""
    return _trace_time_span(str(db_path()))


# Feedback: reads and writes for the trace page's controls and the review queue.


def default_author() -> str:
    """Who rates, until they type a name: ``$SPANLITE_USER``, else the OS user name."""
    try:
        return os.environ.get("SPANLITE_USER") or getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return ""


def author() -> str | None:
    """The sidebar's "Your name" (kept in session state), or ``None`` when left empty."""
    return str(st.session_state.get("author", default_author())).strip() or None


def definitions() -> dict[str, FeedbackDefinition]:
    """The configured feedback kinds, or thumbs/score/label when nobody has defined any."""
    return store().feedback_definitions() or dict(DEFAULT_DEFINITIONS)


def configured_definitions() -> dict[str, FeedbackDefinition]:
    return store().feedback_definitions()


def thumbs_name(defs: dict[str, FeedbackDefinition]) -> str:
    """The boolean feedback that thumbs up/down stand for: ``thumbs`` unless only another boolean is defined."""
    if THUMBS in defs:
        return THUMBS
    return next((d.name for d in defs.values() if d.type == "bool"), THUMBS)


def define_feedback(definition: FeedbackDefinition) -> None:
    store().define_feedback(
        definition.name,
        definition.type,
        min_value=definition.min_value,
        max_value=definition.max_value,
        categories=definition.categories,
        description=definition.description,
    )


def target_feedback(trace_id: str, span_id: str | None) -> list[Feedback]:
    """Feedback on exactly this target: the trace itself (``span_id=None``) or one span of it."""
    return [f for f in store().get_feedback(trace_id, span_id=span_id) if f.span_id == span_id]


def log_feedback(
    trace_id: str, name: str, value: FeedbackValue, *, span_id: str | None = None, comment: str | None = None
) -> Feedback:
    """A human rating by the sidebar's author; rating again updates it and the store keeps the history."""
    return store().log_feedback(
        trace_id, name, value, span_id=span_id, source="human", author=author(), comment=comment or None
    )


def _unreviewed(name: str, tags: tuple[str, ...]) -> TraceFilter:
    """Traces no person has rated yet: a judge's or a script's rating does not take one out of the human queue."""
    return TraceFilter(has_feedback=False, feedback_source="human", name=name.strip() or None, tags=list(tags) or None)


def next_unreviewed(name: str, tags: tuple[str, ...], skipped: frozenset[str]) -> TraceSummary | None:
    """The newest trace no person has rated yet that this reviewer has not skipped."""
    token = None
    while True:
        page = store().search_traces(_unreviewed(name, tags), limit=PAGE_SIZE, page_token=token)
        for trace in page:
            if trace.trace_id not in skipped:
                return trace
        if page.next_page_token is None:
            return None
        token = page.next_page_token


REVIEW_COUNT_CAP = 10_000  # the review queue counts unrated traces up to this many ("10,000+ left")


def count_unreviewed(name: str, tags: tuple[str, ...], skipped: frozenset[str]) -> int:
    return store().count_traces(_unreviewed(name, tags), exclude=skipped, cap=REVIEW_COUNT_CAP)


# Evaluation: runs, one run's examples, two runs compared, datasets and their records.

RUN_CHOICES = 200  # runs offered to compare a run with: the newest on its dataset


def runs(after: eval_views.RunKey | None, limit: int = PAGE_SIZE) -> list[Run]:
    """A page of runs newest first, from after the run ``after`` names; ask one more than shown to know if there
    is a next page."""
    return eval_views.runs_page(store(), after=after, limit=limit)


def run(run_id: str) -> Run | None:
    return store().get_run(run_id)


def run_results(run_id: str, after_index: int, limit: int = PAGE_SIZE) -> list[RunResult]:
    return eval_views.results_page(store(), run_id, after_index=after_index, limit=limit)


def count_results(run_id: str) -> int:
    return eval_views.count_results(store(), run_id)


def runs_to_compare(run: Run) -> list[Run]:
    """Runs to compare ``run`` with: the newest on the same dataset, else the newest of all; never itself."""
    found = store().list_runs(dataset=run.dataset, limit=RUN_CHOICES) if run.dataset else []
    found = found or store().list_runs(limit=RUN_CHOICES)
    return [r for r in found if r.run_id != run.run_id]


# A resource, not data: shared as it is rather than copied on every rerun (a big comparison is slow to copy); it is
# frozen, and nobody changes it.
@st.cache_resource(ttl=30, show_spinner=False, max_entries=20)
def _comparison(path: str, run_a: str, run_b: str) -> RunComparison:
    return compare_runs(run_a, run_b, store=_open(path))


def comparison(run_a: str, run_b: str) -> RunComparison:
    """Two runs compared example by example; cached briefly, since paging through it must not read both runs
    again, and a finished run does not change."""
    return _comparison(str(db_path()), run_a, run_b)


def datasets() -> list[Dataset]:
    return store().list_datasets()


def dataset_names() -> list[str]:
    return eval_views.dataset_names(store())


def dataset(name: str) -> Dataset | None:
    return store().get_dataset(name)


def dataset_records(
    name: str, version: int, after: eval_views.RecordKey, limit: int = PAGE_SIZE
) -> list[DatasetRecord]:
    return eval_views.records_page(store(), name, version, after=after, limit=limit)


@st.cache_data(ttl=60, show_spinner=False)
def _count_records(path: str, name: str, version: int) -> int:
    return eval_views.count_records(_open(path), name, version)


def count_records(dataset: Dataset, version: int) -> int:
    """How many records a version holds: the latest's size is known; an earlier version's is counted once (it
    does not change) by reading every record up to it."""
    return dataset.size if version == dataset.version else _count_records(str(db_path()), dataset.name, version)


def add_trace_to_dataset(trace_id: str | list[str], name: str, *, create: bool) -> tuple[Dataset, list[DatasetRecord]]:
    """Add a trace's (or traces') root inputs, and its outputs as the proposed ``expected_response``, to a dataset
    (made first when ``create``); returns the dataset as it is now and the records added (none: it held them)."""
    handle = eval_datasets.create(name, store=store()) if create else eval_datasets.Dataset(name, store())
    added = handle.add_traces([trace_id] if isinstance(trace_id, str) else trace_id)
    return handle.info, added
