"""The store file at its edges: deleted under a running app, made by several processes at once, someone else's file,
an export aimed at it, its log under several writers."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import spanlite
from spanlite import cli
from spanlite.store import SQLiteSpanExporter, StoreError, TraceStore

HOLD_OPEN = """
import sys
from spanlite.store import TraceStore
store = TraceStore(sys.argv[1])
store.stats()  # a read: its -wal and -shm are open in this process now
print("open", flush=True)
sys.stdin.read()
"""


def _start(script: str, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "SPANLITE_STRICT": "0", **env}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )  # fmt: skip


@pytest.fixture
def viewer(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process reading the store, as the viewer does, for as long as the test runs."""
    process = _start(HOLD_OPEN, str(db_path))
    assert process.stdout is not None and process.stdout.readline().strip() == "open", process.stderr
    yield process
    process.communicate("", timeout=60)


@spanlite.trace
def double(x: int) -> int:
    return x * 2


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_store_deleted_while_another_process_reads_it_is_recreated(
    db_path: Path, viewer: subprocess.Popen[str], writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANLITE_WRITER", writer)
    spanlite.configure(db=db_path)
    double(0)
    assert spanlite.flush()
    db_path.unlink()  # `rm traces.db`: its -wal and -shm stay, open in the viewer
    assert [double(i) for i in range(2_000)] == [i * 2 for i in range(2_000)]
    assert spanlite.flush()
    with TraceStore(db_path) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (2_000, 0)
        assert store.rows("PRAGMA integrity_check")[0]["integrity_check"] == "ok"


HOLDS_SHARED = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002)  # the bytes SQLite's readers lock
    print("free")
except OSError:
    print("held")
"""


def test_opening_a_store_again_keeps_the_locks_this_process_holds_on_it(db_path: Path) -> None:
    """POSIX locks belong to the process: a descriptor of the store's file opened and closed outside SQLite (to
    read its header, say) drops every lock this process's connections hold on it, and the last other process to
    close its own connection then deletes the log they still write to. Only SQLite may open the file."""

    def lock() -> str:
        check = [sys.executable, "-c", HOLDS_SHARED, str(db_path)]
        return subprocess.run(check, capture_output=True, text=True, timeout=60).stdout.strip()

    double(1)
    assert spanlite.flush()
    assert lock() == "held"  # the writer's connection, reading the store in WAL mode
    TraceStore(db_path).close()
    assert lock() == "held"
    SQLiteSpanExporter(db_path).shutdown()
    assert lock() == "held"


RECREATE = """
import sys, spanlite
spanlite.configure(db=sys.argv[1])
@spanlite.trace
def work(i):
    return i
work(-1)
assert spanlite.flush()
print("open", flush=True)
sys.stdin.readline()  # the store is deleted now: every process recreates it at the same moment
for i in range(500):
    work(i)
assert spanlite.flush()
"""


def test_processes_recreating_one_deleted_store_at_once_lose_nothing(
    db_path: Path, viewer: subprocess.Popen[str]
) -> None:
    """Each process clears the deleted store's leftover log before it makes a new one; none may clear the log of
    the store another process has just made, or that process's commits would vanish with it."""
    apps = [_start(RECREATE, str(db_path), SPANLITE_WRITER="thread") for _ in range(4)]
    for app in apps:
        assert app.stdout is not None and app.stdout.readline().strip() == "open", app.communicate()
    db_path.unlink()
    _release_and_wait(apps)
    with TraceStore(db_path) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (2_000, 0)
        assert store.rows("PRAGMA integrity_check")[0]["integrity_check"] == "ok"


def _release_and_wait(apps: list[subprocess.Popen[str]]) -> None:
    """Let every app go on at the same moment (each waits for a line), then wait for all to end well."""
    for app in apps:
        assert app.stdin is not None
        app.stdin.write("go\n")
        app.stdin.flush()
    for app in apps:
        _, err = app.communicate(timeout=120)
        assert app.returncode == 0, err


OPEN_NEW = """
import sys, spanlite
sys.stdin.readline()  # every process opens the new store at the same moment
spanlite.configure(db=sys.argv[1])
@spanlite.trace
def work(i):
    return i
for i in range(50):
    work(i)
assert spanlite.flush()
"""


def test_processes_making_one_new_store_at_once_all_trace(tmp_path: Path, started: list[subprocess.Popen[str]]) -> None:
    path = tmp_path / "new.db"
    apps = [_start(OPEN_NEW, str(path), SPANLITE_STRICT="1", SPANLITE_WRITER="thread") for _ in range(8)]
    started.extend(apps)
    _release_and_wait(apps)
    with TraceStore(path) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (400, 0)


# Someone else's files: none of them may change by a byte, nor may a file appear beside them.


def _foreign_wal(path: Path) -> None:
    """Another app's database in WAL mode, closed, so no -wal or -shm is beside it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.execute("INSERT INTO people VALUES ('ada')")
    conn.commit()
    conn.close()


def _foreign_rollback(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO orders (total) VALUES (9.5)")
    conn.commit()
    conn.close()


CRASH_WITH_A_LOG = """
import os, sqlite3, sys
app = sqlite3.connect(sys.argv[1], isolation_level=None)
app.execute("PRAGMA wal_autocheckpoint = 0")
app.execute("INSERT INTO people VALUES ('grace')")
os._exit(0)  # with the insert in its log only
"""


def _foreign_wal_left_by_a_crash(path: Path) -> None:
    """Another app's WAL database whose app died with changes in its log: whoever opens it next for writing copies
    them into the file and deletes the log."""
    _foreign_wal(path)
    subprocess.run([sys.executable, "-c", CRASH_WITH_A_LOG, str(path)], check=True, timeout=60)


def _garbage(path: Path) -> None:
    path.write_text("my notes, not a database\n" * 100)


def _empty(path: Path) -> None:
    path.touch()


def _blank_sqlite(path: Path) -> None:
    """A valid SQLite database with no table: its header written, nothing else."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.close()


NOT_STORES: dict[str, Callable[[Path], None]] = {
    "foreign-wal": _foreign_wal, "foreign-wal-crashed": _foreign_wal_left_by_a_crash,
    "foreign-rollback": _foreign_rollback, "garbage": _garbage,
}  # fmt: skip
EMPTY: dict[str, Callable[[Path], None]] = {"empty": _empty, "blank-sqlite": _blank_sqlite}


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file in ``directory`` and a hash of its bytes (a -shm is shared memory, its bytes are not the file's)."""
    return {
        p.name: "" if p.name.endswith("-shm") else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
    }


def _made(tmp_path: Path, kind: str, make: Callable[[Path], None]) -> Path:
    directory = tmp_path / kind  # a directory of its own, so that a file appearing beside it shows
    directory.mkdir()
    make(path := directory / "app.db")
    return path


READ_COMMANDS = [
    ["stats"], ["traces", "list"], ["traces", "list", "--json"], ["traces", "search", "ada"], ["traces", "show", "t1"],
    ["traces", "export"], ["traces", "export", "--format", "dataset"], ["traces", "delete", "t1"],
    ["traces", "delete", "--before", "2000-01-01"],
]  # fmt: skip


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("kind", [*NOT_STORES, *EMPTY])
def test_read_commands_and_the_viewers_reader_never_write_to_a_file_that_is_not_a_store(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _made(tmp_path, kind, {**NOT_STORES, **EMPTY}[kind])
    before = _snapshot(path.parent)
    for command in READ_COMMANDS:
        code, err = _run_cli(["--db", str(path), *command], capsys)
        assert code == 1 and err.startswith("spanlite: ") and err.count("\n") == 1, (command, err)
        assert "spanlite trace store" in err, (command, err)
        assert _snapshot(path.parent) == before, command
    with pytest.raises(StoreError, match="spanlite trace store"):
        TraceStore(path)
    assert _snapshot(path.parent) == before


@pytest.mark.parametrize("kind", list(NOT_STORES))
def test_writers_never_write_to_a_file_that_is_not_a_store(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _made(tmp_path, kind, NOT_STORES[kind])
    before = _snapshot(path.parent)
    with pytest.raises(StoreError, match="spanlite trace store"):
        spanlite.configure(db=path)
    assert _snapshot(path.parent) == before
    code, err = _run_cli(["--db", str(path), "ui"], capsys)
    assert code == 1 and "spanlite trace store" in err
    assert _snapshot(path.parent) == before


def test_a_foreign_database_in_use_by_its_app_is_only_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its app has it open with a log not yet written back: reading must neither write the log back nor change it."""
    path = _made(tmp_path, "in-use", _foreign_wal)
    app = sqlite3.connect(path, isolation_level=None)
    app.execute("PRAGMA wal_autocheckpoint = 0")
    app.execute("INSERT INTO people VALUES ('grace')")
    try:
        before = _snapshot(path.parent)
        assert set(before) == {"app.db", "app.db-wal", "app.db-shm"}
        for command in (["stats"], ["traces", "list"]):
            code, err = _run_cli(["--db", str(path), *command], capsys)
            assert code == 1 and "not a spanlite trace store" in err
        for open_it in (TraceStore, lambda p: spanlite.configure(db=p)):
            with pytest.raises(StoreError, match="not a spanlite trace store"):
                open_it(path)
        assert _snapshot(path.parent) == before
    finally:
        app.close()


@pytest.mark.parametrize("kind", list(EMPTY))
def test_a_writer_makes_its_store_in_an_empty_file(tmp_path: Path, kind: str) -> None:
    """An empty file (a temporary file made for the store, say) holds nothing to keep: tracing makes its store there."""
    path = _made(tmp_path, kind, EMPTY[kind])
    spanlite.configure(db=path)
    assert double(2) == 4
    assert spanlite.flush()
    with TraceStore(path) as store:
        assert store.stats()["spans"] == 1


# Exports: never onto the store, never half a file.


def _store_with_a_trace(db_path: Path) -> None:
    double(21)
    assert spanlite.flush()
    spanlite.configure(db=db_path.with_name("elsewhere.db"))  # nothing of the app writes to the store from now on


def _aliases(db_path: Path, tmp_path: Path) -> list[Path]:
    """Every way to name the store's files that an export must refuse."""
    link = tmp_path / "link.db"
    link.symlink_to(db_path)
    hard = tmp_path / "hard.db"
    os.link(db_path, hard)
    wal_link = tmp_path / "wal-link"
    wal_link.symlink_to(f"{db_path}-wal")
    return [
        db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"), link, hard, wal_link,
        db_path.parent / "sub" / ".." / db_path.name,
    ]  # fmt: skip


def test_an_export_onto_the_store_or_its_log_is_refused(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_with_a_trace(db_path)
    (db_path.parent / "sub").mkdir()
    with TraceStore(db_path) as reader:  # a reader keeps the store's -wal and -shm in place
        reader.stats()
        store_files = {p: p.read_bytes() for p in (db_path, Path(f"{db_path}-wal"))}
        assert Path(f"{db_path}-shm").exists()
        for target in _aliases(db_path, tmp_path):
            code, err = _run_cli(["--db", str(db_path), "traces", "export", "-o", str(target)], capsys)
            assert code == 1 and err.startswith("spanlite: ") and err.count("\n") == 1, (target, err)
            assert {p: p.read_bytes() for p in store_files} == store_files, target
        assert reader.stats()["spans"] == 1


def test_an_export_onto_another_sqlite_database_is_refused(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_with_a_trace(db_path)
    other = _made(tmp_path, "other", _foreign_rollback)
    before = _snapshot(other.parent)
    code, err = _run_cli(["--db", str(db_path), "traces", "export", "-o", str(other)], capsys)
    assert code == 1 and "SQLite database" in err
    assert _snapshot(other.parent) == before


def test_a_failed_export_leaves_the_previous_file_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exports" / "traces.jsonl"
    out.parent.mkdir()
    out.write_text('{"previous": "export"}\n')
    code, err = _run_cli(["--db", str(tmp_path / "typo.db"), "traces", "export", "-o", str(out)], capsys)
    assert code == 1 and "no trace store" in err
    assert out.read_text() == '{"previous": "export"}\n'
    assert os.listdir(out.parent) == ["traces.jsonl"]  # no temporary file left behind


def test_an_export_replaces_the_file_whole_and_through_a_symlink(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_with_a_trace(db_path)
    real = tmp_path / "exports" / "traces.jsonl"
    real.parent.mkdir()
    real.write_text("old\n" * 1000)
    real.chmod(0o640)
    link = tmp_path / "latest.jsonl"
    link.symlink_to(real)
    code, err = _run_cli(["--db", str(db_path), "traces", "export", "-o", str(link)], capsys)
    assert code == 0 and err == "exported 1 trace\n"
    assert link.is_symlink() and len(real.read_text().splitlines()) == 1 and '"double"' in real.read_text()
    assert oct(real.stat().st_mode & 0o777) == oct(0o640)
    assert os.listdir(real.parent) == ["traces.jsonl"]


def test_an_export_to_a_device_writes_to_it(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a regular file (/dev/null, a pipe): written as it is, never replaced by a rename."""
    _store_with_a_trace(db_path)
    code, err = _run_cli(["--db", str(db_path), "traces", "export", "-o", os.devnull], capsys)
    assert code == 0 and err == "exported 1 trace\n"


# The log: bounded however many processes write.

WAL_WRITER = """
import sys, time
from spanlite.store import SQLiteSpanExporter, _checkpointer, _db
from spanlite.store._rows import span_row
# A log kept to 1 MB instead of 64 MB (its bound: 4 MB, not 256 MB), so that the bound is reached within a second.
_db.WAL_CHECKPOINT_PAGES = _checkpointer.WAL_CHECKPOINT_PAGES = 64
_db.LOG_BYTES_KEPT = _checkpointer.LOG_BYTES_KEPT = 1024 * 1024
_checkpointer.SPANS_PER_CHECKPOINT = 200
_checkpointer.REWIND_PAUSE_S = 0.02  # and writers wait less after a rewind held up, as the log is 64 times shorter
exporter = SQLiteSpanExporter(sys.argv[1], writer="thread")
print("ready", flush=True)
sys.stdin.readline()
deadline = time.monotonic() + float(sys.argv[2])
written = 0
while time.monotonic() < deadline:
    rows = [
        span_row(trace_id=f"{sys.argv[3]}-{written + i // 10}", span_id=str(i % 10), parent_id=None if i % 10 == 0
                 else "0", name="step", start_ns=time.time_ns(), end_ns=time.time_ns(), status="OK",
                 status_message=None, attributes={"spanlite.inputs": '"a question of some length"'}, events=[])
        for i in range(200)
    ]
    assert exporter.write_rows(rows), exporter.last_error
    written += len(rows)
exporter.shutdown()
print(written, flush=True)
"""
WAL_BOUND = 4 * 1024 * 1024  # BACKSTOP (4) times the 1 MB the writers above keep


def test_the_log_stays_bounded_while_several_processes_write_at_full_speed(tmp_path: Path) -> None:
    """A checkpoint that never blocks a writer cannot catch up while others write, so the log is never rewound:
    four saturated writers grew it to 5.9 GB in a minute. Some process must rewind it once it passes the bound."""
    db_path = tmp_path / "busy.db"
    writers = [_start(WAL_WRITER, str(db_path), "6", f"w{n}") for n in range(3)]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready", writer.communicate()
    sizes: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                sizes.append(os.path.getsize(f"{db_path}-wal"))
            except OSError:
                pass
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        results = [writer.communicate(timeout=120) for writer in writers]
    finally:
        done.set()
        sampler.join()
    assert [w.returncode for w in writers] == [0, 0, 0], [err for _, err in results]
    written = sum(int(out) for out, _ in results)
    with TraceStore(db_path) as store:
        assert store.stats()["spans"] == written
        assert store.rows("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    assert max(sizes) <= WAL_BOUND, f"the log reached {max(sizes) / 2**20:.1f} MB"
