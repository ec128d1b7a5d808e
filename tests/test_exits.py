"""How a process ends: every span it produced is stored, or counted where the count can be read (the store's stats,
else the exit warning on stderr), and it ends within the exit deadline whatever the store is doing.

Each test runs an app as a subprocess and then counts ``stored + counted == produced``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spanlite.store import SQLiteSpanExporter, TraceStore
from spanlite.tracing._processor import QueueProcessor

ENV = {**os.environ, "SPANLITE_STRICT": "0"}
_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_app_left_running() -> Iterator[None]:
    """An app a failed test left hanging is killed with the processes it started, not left behind."""
    yield
    while _started:
        app = _started.pop()
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)  # its own group: a pool's workers, a forkserver, a writer process
            app.communicate()


def start(script: str, db: Path, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    """``script`` run from a file beside ``db`` (spawn and forkserver children import what they run from
    ``__main__``), with ``db`` as its first argument and its default store (where children that never configure
    spanlite write)."""
    path = db.parent / "app.py"
    path.write_text(script)
    app = subprocess.Popen(
        [sys.executable, str(path), str(db), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**ENV, "SPANLITE_DB": str(db)}, start_new_session=True, **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip
    _started.append(app)
    return app


def run(script: str, db: Path, *args: str) -> tuple[int, str, str]:
    app = start(script, db, *args)
    out, err = app.communicate(timeout=60)
    return app.returncode, out, err


def accounted(db: Path, stderr: str) -> tuple[int, int, int]:
    """Spans stored, dropped and counted in the store's stats, and dropped and counted only in the exit warnings."""
    with TraceStore(db) as store:
        stats = store.stats()
        assert store.rows("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    only_warned = sum(int(n) for n in re.findall(r"(\d+) of them are not counted in `spanlite stats`", stderr))
    return stats["spans"], stats["dropped_spans"], only_warned


class LockedStore:
    """A store that another process holds an exclusive lock on, until ``release`` (or the end of the test)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            TraceStore(path).close()
        self._holder = subprocess.Popen(
            [sys.executable, "-c", "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\nsys.stdin.readline()\nc.execute('COMMIT')",
             str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._holder.stdout is not None and self._holder.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self._holder.returncode is None:
            self._holder.communicate("done\n", timeout=30)


@pytest.fixture
def locked_store(tmp_path: Path) -> Iterator[LockedStore]:
    store = LockedStore(tmp_path / "locked.db")
    yield store
    store.release()


BACKLOG = """
import sys, spanlite
spanlite.configure(db=sys.argv[1])
# The exit deadline, lowered from 5 s so that a backlog small enough for CI still misses it.
spanlite._config._pipeline.processors[0].exit_timeout_s = 0.3
prompt = "x" * 20_000

@spanlite.trace
def call(i, prompt):
    return i

for i in range(2_000):
    call(i, prompt)
"""


def test_a_backlog_that_misses_the_exit_deadline_is_stored_or_counted(tmp_path: Path) -> None:
    code, _, err = run(BACKLOG, tmp_path / "backlog.db")
    assert code == 0, err
    stored, counted, warned = accounted(tmp_path / "backlog.db", err)
    # Every span stored or counted; a batch still being written at the deadline is counted and may be stored too
    # (the README's over-count of at most one batch, never a loss).
    assert 2_000 <= stored + counted + warned <= 2_000 + 512, err
    if stored < 2_000:
        assert f"spanlite dropped {counted + warned} spans in this process" in err


SLOW_TO_READ_AT_EXIT = """
import sys, time, spanlite
spanlite.configure(db=sys.argv[1])
spanlite._config._pipeline.processors[0].exit_timeout_s = 1.0  # the exit deadline, lowered from 5 s to be quick

class Report:  # an app object as outputs: rendered on the export thread, as the batch is made ready to send
    def __repr__(self):
        time.sleep(3)
        return "report"

with spanlite.start_span("slow") as span:
    span.set_outputs(Report())
time.sleep(0.5)  # the export thread takes the span meanwhile, and renders it as the process ends
"""


def test_a_batch_still_being_made_ready_at_the_exit_deadline_is_counted(tmp_path: Path) -> None:
    """The export thread has taken the span from the queue and is still rendering it when closing gives up on it:
    closing counts the span it can no longer wait for, not only spans still queued or being written."""
    code, _, err = run(SLOW_TO_READ_AT_EXIT, tmp_path / "slow.db")
    assert code == 0, err
    assert accounted(tmp_path / "slow.db", err) == (0, 0, 1), err


FIRST_WRITE_AT_EXIT = """
import os, sys
os.environ["SPANLITE_WRITER"] = sys.argv[2]
import spanlite
spanlite.configure(db=sys.argv[1])
for i in range(3):
    with spanlite.start_span(f"span-{i}"):
        pass
"""


@pytest.mark.parametrize("writer", ["process", "auto"])
def test_spans_first_written_at_exit_are_stored_whatever_the_writer(tmp_path: Path, writer: str) -> None:
    """The exit is the first write, so a writer process (or the thread that starts one) would start now: Python 3.12
    starts no thread at interpreter shutdown, and the spans were dropped. They are written in-process instead."""
    code, _, err = run(FIRST_WRITE_AT_EXIT, tmp_path / "first.db", writer)
    assert code == 0, err
    assert accounted(tmp_path / "first.db", err) == (3, 0, 0), err


LOCKED_AT_EXIT = """
import sys, spanlite
spanlite.configure(db=sys.argv[1])
spanlite._config._pipeline.processors[0].exit_timeout_s = 1.0  # the exit deadline, lowered from 5 s to be quick
for i in range(1_000):
    with spanlite.start_span(f"span-{i}"):
        pass
"""


def test_a_store_locked_by_another_process_at_exit_ends_the_process_by_the_deadline_and_says_what_was_lost(
    tmp_path: Path, locked_store: LockedStore
) -> None:
    app = start(LOCKED_AT_EXIT, locked_store.path)
    _, err = app.communicate(timeout=20)  # the busy timeout is 30 s: waiting it out is what must not happen
    assert app.returncode == 0, err
    assert "1000 of them are not counted in `spanlite stats`" in err
    assert "database is locked" in err
    locked_store.release()
    assert accounted(locked_store.path, err) == (0, 0, 1_000)


SIGTERM_IN_FLUSH = """
import sys, time, spanlite
spanlite.configure(db=sys.argv[1])
processor = spanlite._config._pipeline.processors[0]
processor.delay_s = 3600  # the export thread sleeps, so that the main thread's flush is what writes
time.sleep(0.5)  # the export thread's current wait ends; it starts the long one
print("idle", flush=True)
sys.stdin.readline()  # the test locks the store meanwhile
for i in range(200):
    with spanlite.start_span(f"span-{i}"):
        pass
print("flushing", flush=True)
spanlite.flush()  # waits for the lock the test holds, inside the writer's transaction
time.sleep(60)
"""


def test_sigterm_while_the_main_thread_writes_ends_the_process_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    app = start(SIGTERM_IN_FLUSH, db, stdin=subprocess.PIPE)
    assert app.stdin is not None and app.stdout is not None and app.stdout.readline().strip() == "idle"
    locked = LockedStore(db)
    app.stdin.write("go\n")
    app.stdin.flush()
    assert app.stdout.readline().strip() == "flushing"
    with pytest.raises(subprocess.TimeoutExpired):
        app.wait(timeout=0.5)  # meanwhile the app's main thread has begun to wait for the store, inside its write
    app.send_signal(signal.SIGTERM)
    locked.release()  # the write goes on, and the signal is handled inside it
    _, err = app.communicate(timeout=60)
    assert app.returncode == -signal.SIGTERM, err
    assert accounted(db, err) == (200, 0, 0)


CHILDREN = """
import multiprocessing, sys, spanlite

def work(i):
    with spanlite.start_span(f"task-{i}"):
        return i

def tasks(first):
    for i in range(first, first + 100):
        work(i)

if __name__ == "__main__":
    spanlite.configure(db=sys.argv[1])
    context = multiprocessing.get_context(sys.argv[2])
    if sys.argv[3] == "processes":
        children = [context.Process(target=tasks, args=(100 * k,)) for k in range(4)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        assert [child.exitcode for child in children] == [0] * 4
    else:
        with context.Pool(4) as pool:
            assert pool.map(work, range(400)) == list(range(400))
    with spanlite.start_span("parent"):
        pass
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
@pytest.mark.parametrize("how", ["processes", "pool"])
def test_multiprocessing_children_and_pool_workers_store_every_span(tmp_path: Path, method: str, how: str) -> None:
    db = tmp_path / "children.db"
    code, _, err = run(CHILDREN, db, method, how)
    assert code == 0, err
    stored, counted, warned = accounted(db, err)
    assert stored + counted + warned == 401, err
    assert stored == 401, err  # nothing stood in the way of storing them all


ATEXIT_TRACES = """
import atexit, sys, spanlite

@spanlite.trace
def goodbye():
    return "bye"

atexit.register(goodbye)  # registered before the first span: it runs after anything registered then
spanlite.configure(db=sys.argv[1])
with spanlite.start_span("main"):
    pass
"""


def test_an_atexit_handler_that_traces_has_its_span_stored(tmp_path: Path) -> None:
    db = tmp_path / "atexit.db"
    code, _, err = run(ATEXIT_TRACES, db)
    assert code == 0, err
    assert accounted(db, err) == (2, 0, 0), err


FIRST_SPAN_IN_A_THREAD = """
import sys, threading, time, spanlite

def traced():
    spanlite.configure(db=sys.argv[1])
    for i in range(200):
        with spanlite.start_span(f"span-{i}"):
            pass

thread = threading.Thread(target=traced)
thread.start()
thread.join()
print("ready", flush=True)
time.sleep(60)
"""


def test_sigterm_stores_spans_when_spanlite_was_first_used_outside_the_main_thread(tmp_path: Path) -> None:
    db = tmp_path / "thread.db"
    app = start(FIRST_SPAN_IN_A_THREAD, db)
    assert app.stdout is not None and app.stdout.readline().strip() == "ready"
    app.send_signal(signal.SIGTERM)
    _, err = app.communicate(timeout=60)
    assert app.returncode == -signal.SIGTERM, err
    assert accounted(db, err) == (200, 0, 0), err


LATE_SPAN = """
import atexit, sys

def late():
    import spanlite
    with spanlite.start_span("after spanlite shut down"):
        pass

atexit.register(late)  # registered before spanlite is imported: it runs after spanlite has shut down
import spanlite
spanlite.configure(db=sys.argv[1])
with spanlite.start_span("main"):
    pass
"""


def test_a_span_that_ends_after_spanlite_shut_down_is_counted_and_warned_about(tmp_path: Path) -> None:
    db = tmp_path / "late.db"
    code, _, err = run(LATE_SPAN, db)
    assert code == 0, err
    assert accounted(db, err)[:2] == (1, 0)
    assert "spanlite dropped a span that ended after it had shut down" in err


OUTLIVES_ITS_PARENT = """
import os, sys, time, spanlite
spanlite.configure(db=sys.argv[1])
with spanlite.start_span("parent"):
    pass
spanlite.flush()
if os.fork() == 0:
    parent = os.getppid()
    while os.getppid() == parent:  # until the parent has ended, and closed its connection to the store
        time.sleep(0.01)
    for i in range(100):
        with spanlite.start_span(f"child-{i}"):
            pass
    spanlite.flush()
    os._exit(0)
"""


def test_a_forked_child_that_outlives_its_parent_stores_its_spans(tmp_path: Path) -> None:
    db = tmp_path / "orphan.db"
    code, _, err = run(OUTLIVES_ITS_PARENT, db)  # the child holds the pipes open: this returns once it has ended
    assert code == 0, err
    assert accounted(db, err) == (101, 0, 0), err


OTLP_NEVER_ANSWERS = """
import sys, spanlite
spanlite.configure(db=sys.argv[1], otlp_endpoint=sys.argv[2])
for processor in spanlite._config._pipeline.processors:
    processor.exit_timeout_s = 1.0  # the exit deadline, lowered from 5 s to be quick
for i in range(100):
    with spanlite.start_span(f"span-{i}"):
        pass
"""


def test_an_otlp_backend_that_never_answers_neither_holds_up_the_exit_nor_the_store(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts, and never answers
        db = tmp_path / "otlp.db"
        app = start(OTLP_NEVER_ANSWERS, db, f"http://127.0.0.1:{server.getsockname()[1]}")
        _, err = app.communicate(timeout=20)  # the OTLP exporter's own timeout is 10 s a request, retried
    assert app.returncode == 0, err
    assert accounted(db, err) == (100, 0, 0), err
    assert "spanlite dropped 100 spans in this process" in err  # the ones bound for the backend


# What CPython does as a pool worker waits for its next task (Modules/_multiprocessing/semaphore.c): C code that
# runs a moment, then waits on a semaphore. A SIGTERM that comes in the moment before the wait is taken by Python's C
# handler, which only marks it for the main thread to handle in Python, and it never interrupts the wait that follows.
SEMAPHORE_WAIT_C = r"""
#include <semaphore.h>
#include <time.h>

int work_then_wait(double seconds) {
    struct timespec start, now;
    sem_t never_posted;
    sem_init(&never_posted, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    return sem_wait(&never_posted);
}
"""

SIGTERM_BEFORE_A_WAIT = """
import ctypes, sys, spanlite
spanlite.configure(db=sys.argv[1])
with spanlite.start_span("before-the-wait"):
    pass
library = ctypes.CDLL(sys.argv[2])
library.work_then_wait.argtypes = [ctypes.c_double]
print("working", flush=True)
library.work_then_wait(3.0)
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="builds a small C library for the C code's timing")
def test_sigterm_that_lands_just_before_a_blocking_wait_in_c_still_ends_the_process(tmp_path: Path) -> None:
    """The race behind a multiprocessing pool that never ended: the worker waited for ever, SIGTERM taken but never
    handled. spanlite sees the signal arrive even so, and sends it again until its handler has run."""
    source = tmp_path / "wait.c"
    source.write_text(SEMAPHORE_WAIT_C)
    library = tmp_path / "libwait.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source), "-lpthread"], check=True)
    db = tmp_path / "wait.db"
    app = start(SIGTERM_BEFORE_A_WAIT, db, str(library))
    assert app.stdout is not None and app.stdout.readline().strip() == "working"
    time.sleep(0.5)
    app.send_signal(signal.SIGTERM)  # while the C code works: before its wait
    _, err = app.communicate(timeout=30)
    assert app.returncode == -signal.SIGTERM, err
    assert accounted(db, err) == (1, 0, 0), err


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the threads' signal masks from /proc")
def test_spanlite_threads_leave_sigint_and_sigterm_to_the_apps_threads(db_path: Path) -> None:
    """Else the kernel may hand SIGTERM to one of them while the main thread waits in a blocking call that nothing
    then interrupts (a pool worker waiting for its next task): Python never runs the handler, the process never ends.
    """
    exporter = SQLiteSpanExporter(db_path, writer="process")
    assert exporter.write_rows([])  # the writer process has started, and the thread that reads its answers
    processor = QueueProcessor(exporter)
    try:
        ours = [t for t in threading.enumerate() if t.name.startswith(("spanlite-export", "spanlite-writer"))]
        assert {t.name for t in ours} >= {"spanlite-export", "spanlite-writer-replies"}
        for thread in ours:
            blocked = int(_status(thread.native_id)["SigBlk"], 16)
            assert blocked & (1 << (signal.SIGINT - 1)) and blocked & (1 << (signal.SIGTERM - 1)), thread.name
        assert not int(_status(threading.main_thread().native_id)["SigBlk"], 16) & (1 << (signal.SIGTERM - 1))
    finally:
        processor.shutdown()


def _status(thread_id: int | None) -> dict[str, str]:
    lines = Path(f"/proc/self/task/{thread_id}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)
