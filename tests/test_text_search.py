"""Full-text search: exact against a brute-force answer under every plan, across deletes, and after migrating."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlite_utils import Database

from _helpers import write_as_before
from spanlite.store import TraceStore
from spanlite.store._db import connect
from spanlite.store._migrations import registry
from spanlite.store._rows import span_row
from spanlite.store._writer import index_text, write_spans

WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "sloe", "yuzu"]
LATER_WORDS = ["apple", "date", "quince"]
Spans = dict[str, list[dict[str, Any]]]
# Checks the index against the spans table itself (without the 1, FTS5 checks only that the index is well formed).
CHECK_INDEX = "INSERT INTO spans_fts (spans_fts, rank) VALUES ('integrity-check', 1)"


def make_spans(traces: int, *, prefix: str = "t", words: list[str] = WORDS, seed: int = 3) -> Spans:
    """Spans of ``traces`` traces, four each, with one or two random words in inputs and in outputs.

    Every fifth trace failed (from the first); every second one is tagged ``even``.
    """
    rng = random.Random(seed)
    spans: Spans = {}
    for t in range(traces):
        trace_id, start = f"{prefix}{t:03}", 1_000 * (t + 1) + rng.randrange(900)
        spans[trace_id] = [
            span_row(
                trace_id=trace_id,
                span_id=f"{trace_id}-{s}",
                parent_id=None if s == 0 else f"{trace_id}-0",
                name=f"span-{s}",
                start_ns=start + s,
                end_ns=start + 50,
                status="ERROR" if t % 5 == 0 else "OK",
                status_message=None,
                events=[],
                attributes={
                    "spanlite.inputs": orjson.dumps(" ".join(rng.sample(words, rng.randint(1, 2)))).decode(),
                    "spanlite.outputs": orjson.dumps(" ".join(rng.sample(words, rng.randint(1, 2)))).decode(),
                    **({"spanlite.trace.tags": '["even"]'} if t % 2 == 0 else {}),
                },
            )
            for s in range(4)
        ]
    return spans


def write_shuffled(db: Database, spans: Spans, seed: int = 5, write: Callable[..., Any] = write_spans) -> None:
    """Write in small batches, children before roots and traces interleaved, as several processes would."""
    rows = [row for trace in spans.values() for row in reversed(trace)]
    random.Random(seed).shuffle(rows)
    for i in range(0, len(rows), 7):
        write(db.conn, rows[i : i + 7])


def expected(spans: Spans, text: str, *, ascending: bool = False, **filters: Any) -> list[str]:
    """Traces with a span whose inputs or outputs hold every word of ``text``, by (start, id), newest first."""
    words = set(text.split())

    def kept(rows: list[dict[str, Any]]) -> bool:
        status_ok = "status" not in filters or rows[0]["status"] == filters["status"]
        return status_ok and ("tags" not in filters or "spanlite.trace.tags" in (rows[0]["trace_facts"] or {}))

    found = [
        (min(r["start_ns"] for r in rows), trace_id)
        for trace_id, rows in spans.items()
        if kept(rows) and any(words <= _words(r) for r in rows)
    ]
    return [trace_id for _, trace_id in sorted(found, reverse=not ascending)]


def paged(store: TraceStore, size: int, **filters: Any) -> list[str]:
    """The trace ids on every page of a search, each page fetched with the previous page's token."""
    found: list[str] = []
    token = None
    while True:
        page = store.search_traces(limit=size, page_token=token, **filters)
        found += [t.trace_id for t in page]
        if (token := page.next_page_token) is None:
            return found


@pytest.fixture(params=[1, 12, 10_000], ids=["probe-newest-match", "probe-newest-12", "list"])
def text_cap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many matching spans make the store probe traces instead of listing them; 12 makes the probe look
    among the newest matches first and reach older ones for older traces."""
    monkeypatch.setattr("spanlite.store.query.TEXT_CAP", request.param)
    monkeypatch.setattr("spanlite.store.query.TEXT_SCAN_CAP", request.param)
    return int(request.param)


QUERIES = ["apple", "yuzu kiwi", "pear plum fig", "zzz", "apple zzz"]


def test_search_is_exact_under_every_plan_with_filters_and_pages(tmp_path: Path, text_cap: int) -> None:
    spans = make_spans(60)
    db = connect(tmp_path / "s.db")
    write_shuffled(db, spans)
    index_text(db.conn, limit=100)  # the rest is indexed by the first search
    db.close()
    with TraceStore(tmp_path / "s.db") as store:
        for text in QUERIES:
            assert paged(store, 7, text=text) == expected(spans, text), text
            assert paged(store, 5, text=text, ascending=True) == expected(spans, text, ascending=True), text
            for filters in ({"status": "ERROR"}, {"tags": ["even"]}):
                assert paged(store, 4, text=text, **filters) == expected(spans, text, **filters), (text, filters)
            by_duration = [t.trace_id for t in store.iter_traces(text=text, order_by="duration_ms")]
            assert sorted(by_duration) == sorted(expected(spans, text))
            assert store.count_traces(text=text) == len(expected(spans, text))


def test_words_must_all_be_in_one_span(tmp_path: Path, text_cap: int) -> None:
    spans = make_spans(30)
    db = connect(tmp_path / "s.db")
    write_shuffled(db, spans)
    db.close()
    with TraceStore(tmp_path / "s.db") as store:
        in_one = set(expected(spans, "apple pear"))
        in_trace = {t for t, rows in spans.items() if {"apple", "pear"} <= set().union(*map(_words, rows))}
        assert in_one < in_trace  # the data has traces with the words only in different spans
        assert set(paged(store, 10, text="apple pear")) == in_one


def test_deletes_leave_no_ghost_hits_under_every_plan(tmp_path: Path, text_cap: int) -> None:
    spans = make_spans(40)
    db = connect(tmp_path / "s.db")
    write_shuffled(db, spans)
    index_text(db.conn, limit=None)
    write_shuffled(db, make_spans(10, prefix="v", seed=4))  # not indexed yet
    spans |= make_spans(10, prefix="v", seed=4)
    with TraceStore(tmp_path / "s.db") as store:
        indexed_upto = "(SELECT value FROM counters WHERE name = 'fts_rowid')"
        last_indexed = store.rows(f"SELECT trace_id FROM spans WHERE rowid = {indexed_upto}")[0]["trace_id"]
        # Matches, the spans not indexed yet, and the last indexed, so new spans take rowids that were indexed.
        gone = {*expected(spans, "apple")[:3], last_indexed, "t000", *(t for t in spans if t.startswith("v"))}
        assert store.delete_traces(gone) == len(gone)
        spans = {t: rows for t, rows in spans.items() if t not in gone}
        later = make_spans(45, prefix="u", words=LATER_WORDS, seed=9)
        write_shuffled(db, later)  # with other words than the deleted spans whose rowids they take
        spans |= later
        for text in [*QUERIES, "quince", "date apple"]:
            assert paged(store, 6, text=text) == expected(spans, text), text
        db.execute(CHECK_INDEX)
    db.close()


def test_store_indexed_before_m005_migrates_and_stays_searchable(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(path)
    registry().apply(old, stop_before="m005_text_index_without_column_sizes")
    spans = make_spans(30)
    write_shuffled(old, spans, write=write_as_before)
    index_text(old.conn, limit=90)  # indexed the old way, partly
    old["spans"].delete_where("trace_id = ?", ["t004"])  # its spans, indexed or not, through the old trigger
    del spans["t004"]
    old.close()
    with TraceStore(path) as store:
        assert "spans_fts_docsize" not in store.db.table_names()  # the new index keeps no column sizes
        for text in QUERIES:
            assert paged(store, 8, text=text) == expected(spans, text), text
        assert store.delete_traces(["t010", "t011"]) == 2
        del spans["t010"], spans["t011"]
        assert paged(store, 8, text="apple") == expected(spans, "apple")
        store.db.execute(CHECK_INDEX)


def _words(row: dict[str, Any]) -> set[str]:
    return set(orjson.loads(row["inputs"]).split()) | set(orjson.loads(row["outputs"]).split())
