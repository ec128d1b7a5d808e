"""The store's writer child: spans written beside the app, and nothing lost when the child or the app dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import spanlite
from spanlite.store import SQLiteSpanExporter, TraceStore
from spanlite.store._rows import span_row
from spanlite.tracing import _provider, redaction
from spanlite.tracing._processor import QueueProcessor


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive either
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:  # reaped in between: /proc answers ESRCH or ENOENT
        return False


def _wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _install(exporter: SQLiteSpanExporter) -> TracerProvider:
    """spanlite's own pipeline (our processor, our tracer) with ``exporter`` at its end."""
    provider = TracerProvider()
    provider.add_span_processor(QueueProcessor(exporter))
    _provider.install(provider)
    return provider


@pytest.fixture
def provider(db_path: Path) -> Iterator[TracerProvider]:
    """The pipeline with its SQLite exporter forced to write through a child process."""
    provider = _install(SQLiteSpanExporter(db_path, writer="process"))
    yield provider
    provider.shutdown()


def _exporter(provider: TracerProvider) -> SQLiteSpanExporter:
    return provider._active_span_processor._span_processors[0].exporter  # type: ignore[attr-defined,no-any-return]


@spanlite.trace
def answer(question: str) -> str:
    spanlite.update_current_trace(tags=["child"], session_id="s-1")
    return question.upper()


def test_spans_are_written_by_a_child_process(provider: TracerProvider, db_path: Path) -> None:
    assert [answer(f"q{i}") for i in range(300)] == [f"Q{i}" for i in range(300)]
    assert provider.force_flush()
    pid = _exporter(provider).writer_pid
    assert pid is not None and pid != os.getpid() and _alive(pid)
    with TraceStore(db_path) as store:
        traces = store.search_traces(tags=["child"], text="q7", limit=500)
        assert store.count_traces() == 300
        assert {t.session_id for t in traces} == {"s-1"} and [t.output_preview for t in traces] == ["Q7"]
    provider.shutdown()
    assert _wait_gone(pid)


def test_a_child_that_dies_is_replaced_by_writing_in_process(
    provider: TracerProvider, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answer("first")
    assert provider.force_flush()
    pid = _exporter(provider).writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid)
    assert [answer(f"after-{i}") for i in range(50)] == [f"AFTER-{i}" for i in range(50)]
    assert provider.force_flush()
    assert _exporter(provider).writer_pid is None
    with TraceStore(db_path) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (51, 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("writer process stopped" in r.getMessage() for r in warnings) == 1


def test_the_child_applies_the_built_in_redactors(db_path: Path) -> None:
    both = redaction.chain(redaction.secrets, redaction.emails)
    provider = _install(SQLiteSpanExporter(db_path, redact=both, writer="process"))
    answer("mail ada@example.com with key sk-proj-abcdefghijklmnopqrstuvwxyz")
    assert provider.force_flush()
    assert _exporter(provider).writer_pid is not None
    provider.shutdown()
    with TraceStore(db_path) as store:
        trace = store.get_trace(store.search_traces()[0].trace_id)
    assert trace is not None and trace.spans[0].inputs == {"question": "mail [EMAIL] with key [REDACTED]"}


def test_a_redactor_of_the_users_own_keeps_the_writer_in_process(db_path: Path) -> None:
    redact = redaction.chain(redaction.secrets, str.lower)
    provider = _install(SQLiteSpanExporter(db_path, redact=redact, writer="process"))
    answer("LOUD")
    assert provider.force_flush()
    assert _exporter(provider).writer_pid is None
    provider.shutdown()
    with TraceStore(db_path) as store:
        assert store.search_traces()[0].input_preview == "loud"


def test_auto_starts_a_child_only_under_sustained_load(db_path: Path) -> None:
    provider = _install(SQLiteSpanExporter(db_path, writer="auto"))
    for i in range(20):
        answer(str(i))
    assert provider.force_flush()
    assert _exporter(provider).writer_pid is None  # a few traces: no process started
    burst = SQLiteSpanExporter.AUTO_SPANS_PER_S * 2
    for i in range(burst):
        answer(str(i))
    assert provider.force_flush()  # written in the thread while the child starts in the background
    deadline = time.monotonic() + 60
    while _exporter(provider).writer_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _exporter(provider).writer_pid is not None
    answer("through the child")
    assert provider.force_flush()
    provider.shutdown()
    with TraceStore(db_path) as store:
        assert store.count_traces() == 20 + burst + 1


def test_shutdown_while_the_child_starts_loses_nothing_and_leaves_no_child(db_path: Path) -> None:
    provider = _install(SQLiteSpanExporter(db_path, writer="auto"))
    for i in range(SQLiteSpanExporter.AUTO_SPANS_PER_S * 2):
        answer(str(i))
    provider.shutdown()  # most likely while the child is still starting
    exporter = _exporter(provider)
    assert exporter.writer_pid is None
    with TraceStore(db_path) as store:
        assert store.count_traces() == SQLiteSpanExporter.AUTO_SPANS_PER_S * 2


def test_values_marshal_cannot_carry_are_written_in_process(provider: TracerProvider, db_path: Path) -> None:
    class Label(str):
        pass

    with spanlite.start_span("odd") as span:
        span.set_attribute("label", Label("kept"))
    assert provider.force_flush()
    with TraceStore(db_path) as store:
        trace = store.get_trace(store.search_traces()[0].trace_id)
    assert trace is not None and trace.spans[0].attributes["label"] == "kept"


def test_rows_ready_to_store_are_written_by_the_child_or_in_process(db_path: Path) -> None:
    class Label(str):
        pass

    def row(span_id: str, name: str) -> dict[str, Any]:
        return span_row(
            trace_id=f"{1:032x}", span_id=span_id, parent_id=None, name=name, start_ns=1, end_ns=2,
            status="OK", status_message=None, attributes={}, events=(),
        )  # fmt: skip

    exporter = SQLiteSpanExporter(db_path, writer="process")
    try:
        assert exporter.write_rows([row(f"{1:016x}", "by the child")])
        pid = exporter.writer_pid
        assert pid is not None
        assert exporter.write_rows([row(f"{2:016x}", Label("here: marshal cannot carry it"))])
        assert exporter.writer_pid == pid and _alive(pid)
    finally:
        exporter.shutdown()
    # A write after shutdown (a receiver's request still in flight as it stops) fails; it starts no new child.
    assert not exporter.write_rows([row(f"{3:016x}", "too late")])
    assert exporter.writer_pid is None and exporter.last_error == "the store is closed"
    with TraceStore(db_path) as store:
        assert {s["name"] for s in store.db.query("SELECT name FROM spans")} == {
            "by the child",
            "here: marshal cannot carry it",
        }


def test_requests_from_many_threads_queue_up_for_the_child_and_each_gets_its_own_answer(db_path: Path) -> None:
    def rows(thread: int, batch: int, good: bool) -> list[dict[str, Any]]:
        made = [
            span_row(
                trace_id=f"{thread:016x}{batch:016x}", span_id=f"{s + 1:016x}", parent_id=None,
                name=f"{thread}-{batch}", start_ns=1, end_ns=2, status="OK", status_message=None, attributes={},
                events=(),
            )
            for s in range(20)
        ]  # fmt: skip
        if not good:
            made[-1]["model"] = {"not": "a value SQLite stores"}  # the child's transaction fails: nothing of it stored
        return made

    exporter = SQLiteSpanExporter(db_path, writer="process")
    answers: dict[tuple[int, int], bool] = {}

    def send(thread: int) -> None:
        for batch in range(15):
            answers[thread, batch] = exporter.store_rows(rows(thread, batch, good=(thread + batch) % 3 != 0)) is None

    try:
        threads = [threading.Thread(target=send, args=(t,)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert exporter.writer_pid is not None  # every answer came from the child
    finally:
        exporter.shutdown()
    assert answers == {(t, b): (t + b) % 3 != 0 for t in range(6) for b in range(15)}
    with TraceStore(db_path) as store:
        stored = {t.name for t in store.iter_traces()}
    assert stored == {f"{t}-{b}" for (t, b), ok in answers.items() if ok}


def test_drops_are_recorded_through_the_child(provider: TracerProvider, db_path: Path) -> None:
    answer("x")
    assert provider.force_flush()
    assert _exporter(provider).writer_pid is not None
    assert _exporter(provider).record_dropped(7)
    with TraceStore(db_path) as store:
        assert store.stats()["dropped_spans"] == 7


def test_a_child_that_cannot_open_the_store_leaves_the_writing_in_process(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    exporter = SQLiteSpanExporter(path, writer="process")
    for file in tmp_path.iterdir():
        file.unlink()
    path.mkdir()  # the store path became a directory before the first export: the child cannot open it
    provider = _install(exporter)
    assert answer("x") == "X"
    provider.force_flush(timeout_millis=1_000)
    assert exporter.writer_pid is None
    provider.shutdown()


APP = """
import os, signal, sys, time, spanlite
# Ctrl-C raises KeyboardInterrupt, as in an app started from a terminal, even where the tests were started with
# SIGINT ignored (in the background of a shell without job control) and this process inherited that.
signal.signal(signal.SIGINT, signal.default_int_handler)
spanlite.configure(db=sys.argv[1])
how = sys.argv[2]
for i in range(200):
    with spanlite.start_span(f"before-{i}"):
        pass
spanlite.flush()
with spanlite.start_span("unflushed"):
    pass
exporter = spanlite._config._pipeline.processors[0].exporter
print(exporter.writer_pid, flush=True)
if how == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
if how in ("sigterm", "sigint"):
    time.sleep(60)
"""


@pytest.mark.parametrize("how", ["normal", "sigterm", "sigint", "sigkill"])
def test_the_child_ends_with_the_app_and_keeps_what_it_was_sent(
    tmp_path: Path, how: str, started: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "app.db"
    app = subprocess.Popen(
        [sys.executable, "-c", APP, str(path), how],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "SPANLITE_WRITER": "process", "SPANLITE_STRICT": "0"},
        start_new_session=True,
    )  # fmt: skip
    started.append(app)
    assert app.stdout is not None
    child = int(app.stdout.readline())
    if how in ("sigterm", "sigint"):  # sent to the whole process group, as a terminal or a supervisor does
        os.killpg(app.pid, signal.SIGTERM if how == "sigterm" else signal.SIGINT)
    app.communicate(timeout=60)
    assert _wait_gone(child)
    with TraceStore(path) as store:
        names = {t.name for t in store.search_traces(limit=500)}
        assert store.rows("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    assert {f"before-{i}" for i in range(200)} <= names
    if how != "sigkill":
        assert "unflushed" in names  # flushed at exit through the child, which ignored the signal sent to all


FORKED = """
import os, sys, spanlite
spanlite.configure(db=sys.argv[1])
for i in range(10):
    with spanlite.start_span(f"parent-{i}"):
        pass
spanlite.flush()
exporter = spanlite._config._pipeline.processors[0].exporter
parent_writer = exporter.writer_pid
pid = os.fork()
if pid == 0:
    with spanlite.start_span("forked"):
        pass
    spanlite.flush()
    assert exporter.writer_pid not in (None, parent_writer), exporter.writer_pid
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert status == 0, status
with spanlite.start_span("parent-after"):
    pass
spanlite.flush()
assert exporter.writer_pid == parent_writer
print("ok")
"""


def test_a_forked_app_starts_its_own_writer_and_leaves_the_parents_alone(tmp_path: Path) -> None:
    path = tmp_path / "fork.db"
    result = subprocess.run(
        [sys.executable, "-c", FORKED, str(path)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "SPANLITE_WRITER": "process", "SPANLITE_STRICT": "0"},
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    with TraceStore(path) as store:
        expected = {*(f"parent-{i}" for i in range(10)), "forked", "parent-after"}
        assert {t.name for t in store.search_traces()} == expected
