"""``configure()`` while other threads trace: each span lands in a store the app configured, once, or is counted."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import spanlite


def stored_and_dropped(path: Path) -> tuple[list[str], int]:
    if not path.exists():
        return [], 0
    with contextlib.closing(sqlite3.connect(path)) as conn:  # sqlite3's own `with` commits, it does not close
        ids = [row[0] for row in conn.execute("SELECT span_id FROM spans")]
        dropped = conn.execute("SELECT coalesce(max(value), 0) FROM counters WHERE name = 'dropped_spans'").fetchone()
    return ids, dropped[0]


def reconfigure_while_tracing(folder: Path) -> None:
    first, a, b = folder / "first.db", folder / "a.db", folder / "b.db"
    spanlite.configure(db=first)
    stop = threading.Event()
    produced: list[int] = []

    def work() -> None:
        n = 0
        while not stop.is_set():
            with spanlite.start_span("outer"):  # started under one set-up, often ended under the next
                for _ in range(3):
                    with spanlite.start_span("inner"):
                        time.sleep(0.0005)  # a few thousand spans a second, not as many as the GIL allows
            n += 4
        produced.append(n)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(4):
        for path in (a, b):
            spanlite.configure(db=path)
            time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join()
    assert len(produced) == len(threads)  # no thread died of an error of ours (strict mode)
    assert spanlite.flush()

    ids, dropped = [], 0
    for path in (first, a, b):
        stored, counted = stored_and_dropped(path)
        ids += stored
        dropped += counted
    assert len(set(ids)) == len(ids)  # no span in two stores
    assert len(ids) + dropped == sum(produced)


def test_reconfiguring_while_threads_trace_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "default.db"
    monkeypatch.setenv("SPANLITE_DB", str(default))
    for attempt in range(3):  # a race: a few tries
        folder = tmp_path / str(attempt)
        folder.mkdir()
        reconfigure_while_tracing(folder)
    assert not default.exists()  # no thread ever fell back to the default store
