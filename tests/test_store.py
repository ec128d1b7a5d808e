"""The SQLite store: schema, exporter contract, trace summaries, search, delete, several writers."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanlite
from _helpers import post, row, write_as_before
from spanlite.store import SQLiteSpanExporter, StoreError, TraceStore, _store_writer
from spanlite.store._db import connect
from spanlite.store._migrations import NAMES
from spanlite.store._writer import write_spans
from spanlite.store.previews import PREVIEW_CHARS, preview
from spanlite.tracing._processor import QueueProcessor


def test_new_store_has_schema_wal_and_page_size(tmp_path: Path) -> None:
    db = connect(tmp_path / "new.db")
    assert {"spans", "traces", "feedback", "trace_tags", "counters", "spans_fts"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA page_size").fetchone()[0] == 16384
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000
    indexes = {tuple(i.columns) for i in db["spans"].indexes}
    # Spans are keyed by trace first, so that a batch's inserts land on one index page per trace, not per span.
    assert {("trace_id", "span_id"), ("kind", "start_ns"), ("model", "start_ns")} <= indexes
    assert db["spans"].pks == ["trace_id", "span_id"]
    db.close()
    connect(tmp_path / "new.db").close()  # reopening applies nothing and raises nothing


def test_tracing_into_a_new_or_up_to_date_store_imports_only_what_writing_needs(tmp_path: Path) -> None:
    """sqlite-utils imports pandas and numpy wherever they are installed: 0.4 s and 80 MB in an app using neither.
    The query side, and wrapt (which brings asyncio) for autolog, load when first used: 40% of ``import spanlite``.
    What the OTel SDK loads itself is not spanlite's to spare (asyncio before 1.40, wrapt before 1.34)."""
    path = tmp_path / "app.db"
    app = f"""
import sys
import opentelemetry.sdk.resources, opentelemetry.sdk.trace.export, opentelemetry.trace.propagation.tracecontext
sdks = set(sys.modules)
import spanlite
spanlite.configure(db={str(path)!r})
with spanlite.start_span("step", inputs={{"q": "hi"}}):
    pass
spanlite.flush()
unwanted = ("sqlite_utils", "pandas", "numpy", "spanlite.store.query", "spanlite.store.views", "wrapt", "asyncio")
print(sorted(name for name in unwanted if name in sys.modules and name not in sdks))
"""
    for _ in ("makes the store", "finds it up to date"):
        done = subprocess.run([sys.executable, "-c", app], capture_output=True, text=True, timeout=60, check=True)
        assert done.stdout.strip() == "[]"
    with TraceStore(path) as store:
        assert store.stats()["spans"] == 2


def test_reading_an_up_to_date_store_never_imports_sqlite_utils(tmp_path: Path) -> None:
    """A CLI command or a search pays nothing for sqlite-utils, which imports pandas wherever it is installed."""
    path = tmp_path / "app.db"
    db = connect(path)
    write_spans(db.conn, [row("t1", "s1", None, 100, attributes={"spanlite.inputs": '"refund policy"'})])
    db.close()
    reader = f"""
import sys
from spanlite.store import TraceStore
with TraceStore({str(path)!r}) as store:
    found = store.search_traces(text="refund")
    print(len(found), len(store.get_trace("t1").spans), store.stats()["spans"])
print(sorted(name for name in ("sqlite_utils", "pandas", "numpy") if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[:2] == ["1 1 1", "[]"]


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ('{"question": "what is  the\\nrefund policy?"}', "what is the refund policy?"),  # a lone argument, one line
        ('{"q": "hi", "k": 3}', "hi"),  # the first text, not the JSON (issue 24)
        ('{"payload": {"q": "a\\nb"}}', "a b"),
        (
            '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, '
            '{"role": "user", "content": [{"type": "text", "text": "c"}]}]}',
            "c",
        ),  # the last user message
        ('{"k": 3, "v": [true]}', '{"k":3,"v":[true]}'),  # no text: JSON, on one line
        ("[1, 2]", "[1,2]"),
        ("not json\tat all", "not json at all"),
        ('"' + "x" * 400 + '"', "x" * (PREVIEW_CHARS - 1) + "…"),
        (None, None),
    ],
)
def test_trace_previews_are_one_short_line(stored: str | None, shown: str | None) -> None:
    assert preview(stored) == shown


def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    db = connect(path)
    db["_sqlite_migrations"].insert({"migration_set": "spanlite", "name": "m999_from_the_future", "applied_at": "x"})
    db.close()
    with pytest.raises(StoreError, match="newer spanlite"):
        TraceStore(path)
    with pytest.raises(StoreError, match="newer spanlite"):
        spanlite.configure(db=path)


def test_foreign_sqlite_and_garbage_files_are_clear_errors(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(StoreError, match="not a spanlite trace store"):
        TraceStore(other)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a usable spanlite trace store"):
        TraceStore(garbage)


def test_an_exporter_refused_for_its_arguments_keeps_no_connection_open(tmp_path: Path) -> None:
    """Closed at once, not whenever the half-made exporter is collected (a ResourceWarning on 3.13)."""
    path = tmp_path / "t.db"
    with pytest.raises(ValueError) as refused:  # its traceback keeps the half-made exporter alive
        SQLiteSpanExporter(path, writer="bogus")  # type: ignore[arg-type]
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert str(path.resolve()) not in open_files, refused


def test_children_before_root_and_duplicates_keep_summary_exact(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.db")
    tokens = {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5, "gen_ai.request.model": "m-1"}
    child = row("t1", "c1", "r1", 200, attributes={**tokens, "spanlite.span.kind": "LLM"})
    write_spans(db.conn, [child, child])  # the same span twice in one batch
    with TraceStore(tmp_path / "s.db") as store:
        info = store.get_trace("t1").info  # type: ignore[union-attr]
        assert (info.status, info.span_count, info.name) == ("IN_PROGRESS", 1, "span-c1")
        root = row("t1", "r1", None, 100, status="ERROR", attributes={"spanlite.inputs": '"hi"'})
        write_spans(db.conn, [child, root])
        write_spans(db.conn, [row("t1", "c2", "r1", 300, attributes=tokens)])
        trace = store.get_trace("t1")
    db.close()
    assert trace is not None
    info = trace.info
    assert (info.name, info.status, info.span_count, info.error_count) == ("span-r1", "ERROR", 3, 1)
    assert (info.input_tokens, info.output_tokens) == (20, 10)
    assert (info.start_ns, info.end_ns, info.root_span_id) == (100, 310, "r1")
    assert info.input_preview == "hi"
    assert [s.span_id for s in trace.spans] == ["r1", "c1", "c2"]
    assert trace.spans[1].model == "m-1" and trace.spans[1].kind == "LLM"
    assert trace.root is not None and trace.root.span_id == "r1"


def test_exporter_from_two_threads_loses_nothing(tmp_path: Path) -> None:
    exporter = SQLiteSpanExporter(tmp_path / "threads.db")
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for i in range(400):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    spans = memory.get_finished_spans()
    halves = [spans[:200], spans[200:]]
    results: list[SpanExportResult] = []
    threads = [
        threading.Thread(target=lambda h=h: results.extend(exporter.export(h[i : i + 10]) for i in range(0, 200, 10)))
        for h in halves
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {SpanExportResult.SUCCESS}
    exporter.shutdown()
    exporter.shutdown()  # idempotent
    assert exporter.export(spans[:1]) is SpanExportResult.FAILURE
    with TraceStore(tmp_path / "threads.db") as store:
        assert store.stats()["spans"] == 400


def test_the_log_is_checkpointed_beside_the_writer_not_in_its_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanlite.store import _checkpointer

    monkeypatch.setattr(_checkpointer, "SPANS_PER_CHECKPOINT", 40)
    path = tmp_path / "log.db"
    exporter = SQLiteSpanExporter(path, writer="thread")
    # The writer's own checkpoint waits for 4x the usual log, as a backstop only.
    assert exporter._writer._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 16_000
    empty = path.stat().st_size
    for t in range(10):
        assert exporter.write_rows([row(f"t{t}", f"s{t}-{s}", None, s) for s in range(10)])
    deadline = time.monotonic() + 10
    while path.stat().st_size == empty and time.monotonic() < deadline:  # the log copied into the file
        time.sleep(0.02)
    assert path.stat().st_size > empty
    exporter.shutdown()
    assert not [t for t in threading.enumerate() if t.name == "spanlite-checkpoint"]
    with TraceStore(path) as store:
        assert store.stats()["spans"] == 100


def test_a_slow_writers_grown_log_is_checkpointed_when_it_is_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanlite.store import _checkpointer

    monkeypatch.setattr(_checkpointer, "LOG_BYTES_KEPT", 1)  # any log counts as grown
    monkeypatch.setattr(_checkpointer, "REWIND", 10**12)  # but none as past its bound, rewound at the commit
    path = tmp_path / "slow.db"
    exporter = SQLiteSpanExporter(path, writer="thread")
    assert exporter.write_rows([row("t1", "s1", None, 1)])  # far fewer spans than a checkpoint waits for
    empty = path.stat().st_size
    exporter.on_idle()
    deadline = time.monotonic() + 10
    while path.stat().st_size == empty and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.stat().st_size > empty
    exporter.shutdown()


def test_sqlite_error_returns_failure_and_keeps_what_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fail.db"
    exporter = SQLiteSpanExporter(path)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("kept"):
        pass
    with provider.get_tracer("t").start_as_current_span("lost"):
        pass
    kept, lost = memory.get_finished_spans()
    assert exporter.export([kept]) is SpanExportResult.SUCCESS
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock for longer than we wait
    exporter._writer._conn.execute("PRAGMA busy_timeout = 50")
    monkeypatch.setattr(_store_writer, "BUSY_TIMEOUT_MS", 200)  # how long a write retries a held store: 30 s else
    assert exporter.export([lost]) is SpanExportResult.FAILURE
    blocker.rollback()
    blocker.close()
    with TraceStore(path) as store:
        assert [t.name for t in store.search_traces()] == ["kept"]
    assert exporter.export([lost]) is SpanExportResult.SUCCESS  # and it recovers
    exporter.shutdown()


def test_full_queue_drops_are_counted_and_recorded_in_stats(tmp_path: Path) -> None:
    exporter = SQLiteSpanExporter(tmp_path / "drops.db")
    processor = QueueProcessor(exporter, max_queue=5, delay_s=60)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    for i in range(12):
        with provider.get_tracer("t").start_as_current_span(f"s{i}"):
            pass
    assert processor.dropped == 7
    assert processor.force_flush()
    with TraceStore(tmp_path / "drops.db") as store:
        stats = store.stats()
    assert (stats["spans"], stats["dropped_spans"]) == (5, 7)
    processor.shutdown()


def test_a_packing_exporter_is_sent_batches_whose_spans_are_let_go_and_retried_as_packed() -> None:
    """Held through the wait to be stored, a batch's spans would outlive two garbage collections and be promoted to
    the oldest generation, whose full collections walk the whole app."""

    class Packing(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[weakref.ref[ReadableSpan]] = []
            self.sent: list[tuple[Any, int]] = []  # (what was sent, how many of its spans were still alive)

        def pack(self, spans: list[ReadableSpan]) -> tuple[str, ...]:
            self.spans = [weakref.ref(span) for span in spans]
            return tuple(span.name for span in spans)

        def export_packed(self, packed: tuple[str, ...]) -> SpanExportResult:
            gc.collect()
            self.sent.append((packed, sum(ref() is not None for ref in self.spans)))
            return SpanExportResult.SUCCESS if len(self.sent) > 2 else SpanExportResult.FAILURE  # two failures

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            raise AssertionError("a packing exporter is sent packed batches")

    exporter = Packing()
    processor = QueueProcessor(exporter, delay_s=0.05)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("only"):
        pass
    assert processor.force_flush()
    assert exporter.sent == [(("only",), 0)] * 3
    assert (processor.exported, processor.dropped) == (1, 0)
    processor.shutdown()


def _traced_tree(name: str, tags: list[str], session: str | None = None, fail: bool = False) -> None:
    with spanlite.start_span(name, kind="AGENT", inputs={"question": f"about {name}"}) as root:
        spanlite.update_current_trace(tags=tags, session_id=session, user_id="u1")
        with spanlite.start_span("llm", kind="LLM", attributes={"gen_ai.request.model": f"model-{name}"}) as llm:
            llm.set_outputs(f"the answer mentions {name}-zebra")
        if fail:
            root.record_exception(RuntimeError("nope"))


@pytest.fixture(params=["list", "probe"])
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a search test under both plans the store chooses between (few matches: list; many: probe)."""
    if request.param == "probe":
        monkeypatch.setattr("spanlite.store.query.MEMBERS_CAP", 1)
        monkeypatch.setattr("spanlite.store.query.TEXT_CAP", 1)
    return str(request.param)


def test_search_filters(store: TraceStore, plan: str) -> None:
    _traced_tree("alpha", ["prod", "v1"], session="s1")
    time.sleep(0.002)
    _traced_tree("beta", ["prod"], session="s1", fail=True)
    time.sleep(0.002)
    _traced_tree("gamma_x", ["dev"])
    spanlite.flush()

    def names(**filters: Any) -> list[str]:
        return [t.name or "" for t in store.search_traces(**filters)]

    assert names() == ["gamma_x", "beta", "alpha"]
    assert names(ascending=True) == ["alpha", "beta", "gamma_x"]
    assert names(status="ERROR") == ["beta"]
    assert names(status="ok") == ["gamma_x", "alpha"]
    assert names(tags=["prod"]) == ["beta", "alpha"]
    assert names(tags=["prod", "v1"]) == ["alpha"]
    assert names(session_id="s1") == ["beta", "alpha"]
    assert names(user_id="u1", kind="llm") == ["gamma_x", "beta", "alpha"]
    assert names(kind="TOOL") == []
    assert names(model="model-beta") == ["beta"]
    assert names(name="ALP") == ["alpha"]
    assert names(name="a_x") == ["gamma_x"]  # LIKE wildcards in the name are literal
    assert names(name="%") == []
    assert names(text="beta-zebra") == ["beta"]
    assert names(text="about") == ["gamma_x", "beta", "alpha"]
    assert names(text='zebra" OR "x') == []  # FTS syntax in user text is literal words
    oldest = store.search_traces(ascending=True)[0]
    assert names(since=dt.datetime.fromtimestamp(oldest.start_ns / 1e9 + 0.0015, dt.UTC)) == [
        "gamma_x",
        "beta",
    ]
    assert names(until=oldest.start_ns / 1e9 + 0.0015) == ["alpha"]
    assert names(min_duration_ms=10_000) == []
    for bad in ({"status": "MAYBE"}, {"order_by": "name; DROP TABLE spans"}, {"limit": 0}, {"page_token": "zz"}):
        with pytest.raises(ValueError):
            store.search_traces(**bad)
    assert store.stats()["spans"] == 6  # nothing was dropped by the attempts above


def test_keyset_pagination_visits_every_trace_once(store: TraceStore) -> None:
    for i in range(23):
        with spanlite.start_span(f"t{i}"):
            pass
    spanlite.flush()
    seen: list[str] = []
    token = None
    while True:
        page = store.search_traces(limit=5, page_token=token)
        seen += [t.trace_id for t in page]
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == len(set(seen)) == 23
    by_duration = store.search_traces(order_by="duration_ms", limit=5)
    assert len(by_duration) == 5 and by_duration.next_page_token
    assert len(list(store.iter_traces())) == 23


def test_delete_traces_removes_spans_tags_and_text(store: TraceStore) -> None:
    _traced_tree("keep", ["a"])
    _traced_tree("drop", ["a"])
    spanlite.flush()
    drop = store.search_traces(name="drop")[0].trace_id
    assert store.delete_traces([drop]) == 1
    assert store.get_trace(drop) is None
    assert [t.name for t in store.search_traces(tags=["a"])] == ["keep"]
    assert store.search_traces(text="drop-zebra") == []
    assert store.stats()["spans"] == 2
    with pytest.raises(ValueError, match="refusing"):
        store.delete_traces()
    assert store.delete_traces(before=time.time() + 60) == 1
    assert store.stats()["traces"] == 0


WRITER = """
import sys, spanlite
spanlite.configure(db=sys.argv[1])
for i in range(int(sys.argv[2])):
    with spanlite.start_span(f"{sys.argv[3]}-{i}", inputs={"i": i}):
        with spanlite.start_span("child"):
            pass
assert spanlite.flush()
"""


def test_two_processes_write_2000_traces_each_into_one_file(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    path = tmp_path / "shared.db"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), "2000", name], stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]
    started.extend(procs)
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()
    with TraceStore(path) as store:
        stats = store.stats()
        assert (stats["traces"], stats["spans"], stats["dropped_spans"]) == (4000, 8000, 0)
        complete = store.rows("SELECT count(*) AS n FROM traces WHERE span_count = 2 AND status = 'OK'")
        assert complete[0]["n"] == 4000


def test_every_schema_step_is_listed_in_order() -> None:
    """A step is a plain function that only ``STEPS`` registers: one defined but not listed would never run."""
    from spanlite.store import _migrations

    defined = sorted(name for name in vars(_migrations) if name[:1] == "m" and name[1:4].isdigit())
    assert list(_migrations.NAMES) == defined


def test_migrates_from_each_earlier_schema_keeping_data(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store._migrations import registry

    blank = Database(memory=True)
    names = [m.name for m in registry().pending(blank)]
    blank.close()
    for step, name in enumerate(names[1:], start=1):
        path = tmp_path / f"at-{step}.db"
        old = Database(path)
        registry().apply(old, stop_before=name)
        write_as_before(old.conn, [row("t1", "s1", None, 100)])
        old.close()
        with TraceStore(path) as store:  # opening brings it up to date
            assert [m.name for m in registry().applied(store.db)] == names
            assert store.get_trace("t1").info.span_count == 1  # type: ignore[union-attr]


def test_a_new_store_has_the_schema_its_migrations_make(tmp_path: Path) -> None:
    """A new file gets ``_schema``'s plain SQL instead of every step through sqlite-utils: the same store either way."""
    from sqlite_utils import Database

    from spanlite.store._migrations import registry

    def schema(conn: sqlite3.Connection) -> dict[str, Any]:
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        return {
            "objects": [(t, n, tbl, sql and " ".join(sql.split())) for t, n, tbl, sql in master],
            "rows": {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("counters", "spans_fts_config")},
            "steps": [name for (name,) in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")],
        }

    migrated = Database(tmp_path / "migrated.db")
    registry().apply(migrated)
    expected = schema(migrated.conn)
    migrated.close()
    made = connect(tmp_path / "new.db")
    got = schema(made.conn)
    made.close()
    assert expected["steps"] == list(NAMES)
    statements = "\n".join(sql for _, _, _, sql in expected["objects"] if sql)
    assert got == expected, f"store/_schema.py must make what the steps make:\n{statements}"


def test_processes_opening_one_new_file_at_once_make_one_store(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    opener = f"""
import sys
from spanlite.store._db import open_connection
from spanlite.store._rows import span_row
from spanlite.store._writer import write_spans
conn = open_connection({str(path)!r})
write_spans(conn, [span_row(trace_id=sys.argv[1], span_id="s1", parent_id=None, name="step", start_ns=1, end_ns=2,
                            status="OK", status_message=None, attributes={{}}, events=[])])
"""
    openers = [subprocess.Popen([sys.executable, "-c", opener, f"t{i}"]) for i in range(4)]
    assert [p.wait(timeout=60) for p in openers] == [0] * 4
    with TraceStore(path) as store:
        steps = store.rows("SELECT name FROM _sqlite_migrations")
        assert sorted(r["name"] for r in steps) == sorted(NAMES)
        assert store.stats()["spans"] == 4


def test_model_index_becomes_partial_and_still_serves_the_model_filter(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store._migrations import registry

    path = tmp_path / "at-m005.db"
    old = Database(path)
    registry().apply(old, stop_before="m006_model_index_only_where_a_model_is")
    model = {"gen_ai.request.model": "gpt-4o"}
    write_as_before(old.conn, [row("t1", "s1", None, 100, attributes=model), row("t2", "s2", None, 200)])
    old.close()
    with TraceStore(path) as store:
        [index] = store.rows("SELECT sql FROM sqlite_master WHERE name = 'idx_spans_model_start_ns'")
        assert index["sql"].endswith("WHERE model IS NOT NULL")
        plan = store.rows("EXPLAIN QUERY PLAN SELECT x.trace_id FROM spans x WHERE x.model = ?", ["gpt-4o"])
        assert "USING INDEX idx_spans_model_start_ns" in plan[0]["detail"]
        assert [t.trace_id for t in store.search_traces(model="gpt-4o")] == ["t1"]


def test_spans_rekeyed_by_trace_keep_their_rowids_text_index_and_lookups(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store import views
    from spanlite.store._migrations import registry
    from spanlite.store._writer import index_text

    path = tmp_path / "at-m006.db"
    old = Database(path)
    registry().apply(old, stop_before="m007_spans_keyed_by_trace")
    text = {"spanlite.inputs": '"needle"'}
    write_as_before(old.conn, [row(f"t{i}", f"s{i}", None, i, attributes=text) for i in range(6)])
    index_text(old.conn, limit=4)  # the text index part way behind, as a busy writer leaves it
    before = old.execute("SELECT rowid, * FROM spans ORDER BY rowid").fetchall()
    old.close()
    with TraceStore(path) as store:
        assert store.db["spans"].pks == ["trace_id", "span_id"]
        after = store.db.execute("SELECT rowid, * FROM spans ORDER BY rowid").fetchall()
        assert [r[: len(before[0])] for r in after] == before  # later steps add columns
        assert store.get_span("t2", "s2").name == "span-s2"  # type: ignore[union-attr]
        assert store.get_span("t3", "s2") is None
        assert set(views.get_spans(store, [("t1", "s1"), ("t4", "s4"), ("t4", "s1")])) == {("t1", "s1"), ("t4", "s4")}
        # A span id is a span's identity only within its trace: another trace's span with the same id is its own.
        write_spans(store.db.conn, [row("t9", "s1", None, 9, attributes=text), row("t1", "s1", None, 1)])
        assert store.get_span("t9", "s1") is not None
        assert store.get_trace("t1").info.span_count == 1  # type: ignore[union-attr]
        store.delete_traces(["t1", "t5"])  # one indexed before the migration, one not yet
        assert {t.trace_id for t in store.iter_traces(text="needle")} == {"t0", "t2", "t3", "t4", "t9"}
        store.db.execute("INSERT INTO spans_fts (spans_fts) VALUES ('integrity-check')")


def test_text_index_trails_writes_and_stays_exact_across_deletes(tmp_path: Path) -> None:
    from spanlite.store._writer import index_text

    db = connect(tmp_path / "fts.db")
    text = {"spanlite.inputs": '"needle in trace"'}
    write_spans(db.conn, [row(f"t{i}", f"s{i}", None, i, attributes=text) for i in range(10)])
    assert index_text(db.conn, limit=4) == 4  # partly indexed, as after an idle moment
    with TraceStore(tmp_path / "fts.db") as store:
        store.delete_traces(["t1", "t8"])  # one indexed, one not yet
        write_spans(db.conn, [row("t10", "s10", None, 10, attributes=text)])
        found = {t.trace_id for t in store.iter_traces(text="needle")}
        assert found == {f"t{i}" for i in range(11)} - {"t1", "t8"}
        store.delete_traces(["t10"])
        assert len(store.search_traces(text="needle", limit=100)) == 8
    db.execute("INSERT INTO spans_fts (spans_fts) VALUES ('integrity-check')")
    db.close()


def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}


# One model call seen three times (a > b > c, nested, each with its usage, as an instrumented framework over an
# instrumented SDK reports it), a second call beside it and a third nested in it with usage of its own.
NESTED_CALLS = {
    "r": (None, {}), "a": ("r", usage(11, 3)), "b": ("a", usage(11, 3)), "c": ("b", usage(11, 3)),
    "d": ("r", usage(5, 1)), "e": ("a", usage(2, 2)),
}  # fmt: skip
NESTED_TOTALS = (18, 6)


def test_a_model_call_reported_by_nested_spans_counts_once_in_any_order(tmp_path: Path) -> None:
    """A span whose parent has the same usage is the same call: the trace counts it once, whichever spans arrive
    first and however they are split into batches."""
    db = connect(tmp_path / "usage.db")
    cases = {}
    for n, order in enumerate(itertools.permutations("abcde")):
        trace = f"t{n}"
        spans = [(s, *NESTED_CALLS[s]) for s in ("r", *order)]
        rows = [row(trace, s, parent, i, attributes=attributes) for i, (s, parent, attributes) in enumerate(spans)]
        if n % 3 == 0:
            write_spans(db.conn, rows)  # in one batch
        elif n % 3 == 1:
            for r in rows:  # a batch each
                write_spans(db.conn, [r])
        else:
            write_spans(db.conn, rows[::2])  # interleaved across two
            write_spans(db.conn, rows[1::2])
        cases[trace] = order
    db.close()
    with TraceStore(tmp_path / "usage.db") as store:
        totals = {t.trace_id: (t.input_tokens, t.output_tokens) for t in store.iter_traces()}
    wrong = {cases[t]: got for t, got in totals.items() if got != NESTED_TOTALS}
    assert len(totals) == len(cases) and not wrong, wrong


def test_a_store_that_counted_nested_model_calls_twice_is_corrected_on_opening(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store._migrations import registry

    path = tmp_path / "at-m007.db"
    old = Database(path)
    registry().apply(old, stop_before="m008_usage_counted_once_per_model_call")
    spans = enumerate(NESTED_CALLS.items())
    write_as_before(old.conn, [row("t1", s, parent, i, attributes=a) for i, (s, (parent, a)) in spans])
    write_as_before(old.conn, [row("t2", "x", None, 1, attributes=usage(7, 7))])
    # what spanlite before this step stored: every span's usage added
    old.execute("UPDATE traces SET input_tokens = 40, output_tokens = 12 WHERE trace_id = 't1'")
    old.conn.commit()
    old.close()
    with TraceStore(path) as store:
        totals = {t.trace_id: (t.input_tokens, t.output_tokens) for t in store.iter_traces()}
    assert totals == {"t1": NESTED_TOTALS, "t2": (7, 7)}


def test_otlp_spans_whose_parent_is_remote_summarise_their_trace(tmp_path: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags

    from spanlite.otlp import start_receiver

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.parent_span_id = b"\x01" * 16, b"\x02" * 8, b"\x03" * 8
    span.name, span.start_time_unix_nano, span.end_time_unix_nano = "handler", 10, 20
    span.flags = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
    with start_receiver(tmp_path / "received.db") as receiver:
        assert post(receiver, request.SerializeToString())[0] == 200
    with TraceStore(receiver.db_path) as store:
        (summary,) = store.search_traces()
    # its parent is elsewhere: the span is its trace's root here, and names it
    assert (summary.name, summary.status) == ("handler", "OK")


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_values_beyond_sqlites_integers_neither_fail_the_batch_nor_are_lost(tmp_path: Path, writer: str) -> None:
    """Far-future times are clamped to SQLite's integers; out-of-range token counts are NULL, kept in attributes."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    int64_max = 2**63 - 1
    with tracer.start_as_current_span("root"):
        odd = tracer.start_span("odd", start_time=2**64 + 1)
        odd.set_attributes({"gen_ai.usage.input_tokens": 2**70, "gen_ai.usage.output_tokens": 2**63})
        odd.add_event("later", timestamp=2**65)
        odd.end(end_time=2**66)
        for name in ("llm-1", "llm-2"):  # each count fits; their sum does not
            with tracer.start_as_current_span(name) as span:
                span.set_attribute("gen_ai.usage.input_tokens", int64_max)
    exporter = SQLiteSpanExporter(tmp_path / "big.db", writer=writer)  # type: ignore[arg-type]
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    assert (exporter.writer_pid is not None) is (writer == "process")
    exporter.shutdown()
    with TraceStore(tmp_path / "big.db") as store:
        spans = {r["name"]: dict(r) for r in store.db.query("SELECT * FROM spans")}
        [trace] = store.search_traces()
    assert set(spans) == {"root", "odd", "llm-1", "llm-2"}
    odd_row = spans["odd"]
    assert (odd_row["start_ns"], odd_row["end_ns"]) == (int64_max, int64_max)
    assert (odd_row["input_tokens"], odd_row["output_tokens"]) == (None, None)
    attributes = json.loads(odd_row["attributes"])
    assert attributes["gen_ai.usage.input_tokens"] == str(2**70)  # beyond what orjson writes: as text
    assert attributes["gen_ai.usage.output_tokens"] == 2**63
    assert json.loads(odd_row["events"])[0]["time_ns"] == str(2**65)
    assert spans["llm-1"]["input_tokens"] == int64_max
    assert (trace.span_count, trace.input_tokens) == (4, int64_max)
