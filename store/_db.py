"""Open a store file: what it holds first, then pragmas and migrations; a clear error for a file that is no store.

Writers (the exporter, its writer process) and readers (``TraceStore``, so the CLI and the viewer) use a plain
``sqlite3`` connection (``open_connection``). sqlite-utils, which imports pandas and numpy wherever they are
installed (0.6 s and 90 MB in a process that uses neither), is imported only to migrate a store made by an older
spanlite, or on request (``connect``, ``TraceStore.db``); a new store gets its schema in plain SQL (``_schema``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from spanlite.tracing import _settings

from . import _schema
from ._migrations import MIGRATION_SET, NAMES, registry

if TYPE_CHECKING:
    from sqlite_utils import Database

BUSY_TIMEOUT_MS = 30_000
WAL_CHECKPOINT_PAGES = 4_000  # 64 MB of WAL at most between checkpoints
LOG_BYTES_KEPT = 64 * 1024 * 1024  # a longer log is cut back to this when it is rewound (``_checkpointer``)
Holds = Literal["none", "empty", "blank", "store"]  # no file, 0 bytes, SQLite without tables, a spanlite store


class StoreError(Exception):
    """A store that cannot be used: not a spanlite database, unreadable, or from a newer spanlite."""


def default_db_path() -> Path:
    """``$SPANLITE_DB``, else ``traces.db`` in the user data directory (``~/.local/share/spanlite``)."""
    if configured := _settings.path("SPANLITE_DB"):
        return configured
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "spanlite" / "traces.db"


def open_connection(path: str | Path, *, create: bool = True, fill_empty: bool = False) -> sqlite3.Connection:
    """A connection to ``path`` with the schema up to date, usable from any thread; ``StoreError`` if it cannot be.

    What the file holds is found out first, read-only (``_identify``): someone else's database, or a file that is no
    database, is refused as it is, never switched to WAL nor given a schema. ``create``: make a store where no file
    is. ``fill_empty``: make one in an empty file too (0 bytes, or SQLite without a table), as a writer handed a
    fresh file for its spans would; a reader leaves such a file alone.
    """
    path = Path(path).expanduser()
    if not create and not path.exists():
        raise StoreError(f"no trace store at {path}")
    try:
        return _open(path) if _identify(path) == "store" else _make(path, create=create, fill_empty=fill_empty)
    except sqlite3.DatabaseError as exc:
        raise _store_error(path, exc) from exc


def connect(path: str | Path, *, create: bool = True) -> Database:
    """``open_connection`` as a sqlite-utils ``Database``, for tools and tests that want its API.

    spanlite's own reads and writes use the plain connection: sqlite-utils imports pandas wherever it is installed.
    """
    from sqlite_utils import Database

    return Database(open_connection(path, create=create))


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        conn.execute("PRAGMA page_size = 16384")  # only takes effect before the first table exists
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: durable across app crashes, never corrupt
    # A checkpoint runs inside the commit that crosses this many WAL pages, and waits for its syncs. SQLite's 1000
    # (16 MB at our page size) had a busy writer waiting a third of its time; four times fewer checkpoints, each
    # copying hot index pages once rather than four times, cut a writer's time per span by a fifth.
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    # Whichever connection writes first after the log is rewound cuts the file back, a reader's too.
    conn.execute(f"PRAGMA journal_size_limit = {LOG_BYTES_KEPT}")


def _identify(path: Path) -> Holds:
    """What ``path`` holds, read through a connection that writes nothing and makes no file beside it.

    ``StoreError`` for a file that is not a store: another app's database, no database, a newer spanlite's store.
    A database with no log beside it is read as ``immutable``: a read-only connection to one in WAL mode would make
    a -wal and a -shm next to it (and leave them behind). Only SQLite opens the file: closing a descriptor of our
    own would drop the locks this process's connections hold on it (POSIX locks belong to the process).
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return "none"
    except OSError as exc:
        raise StoreError(f"cannot open trace store {path}: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a file, so not a spanlite trace store")
    if info.st_size == 0:
        return "empty"
    no_log = not os.path.exists(f"{path}-wal")  # no connection has it open, or none did since it was written back
    try:
        applied, tables = _read_schema(path, immutable=no_log)
    except sqlite3.DatabaseError:
        if not no_log:
            raise
        applied, tables = _read_schema(path, immutable=False)  # a process opened it and wrote as it was read
    if unknown := applied - set(NAMES):
        raise StoreError(
            f"{path} was written by a newer spanlite (schema steps {sorted(unknown)} are unknown here); "
            "upgrade spanlite to read it"
        )
    if applied:
        return "store"
    if tables - {"_sqlite_migrations"}:
        raise _not_a_store(path)
    return "blank"


def _not_a_store(path: Path) -> StoreError:
    return StoreError(f"{path} is an SQLite database but not a spanlite trace store")


def _read_schema(path: Path, *, immutable: bool) -> tuple[set[str], set[str]]:
    """The spanlite schema steps applied in ``path`` and its tables, read-only."""
    uri = f"{path.absolute().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}"
    reader = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        return _applied(reader), _user_tables(reader)
    finally:
        reader.close()


def _make(path: Path, *, create: bool, fill_empty: bool) -> sqlite3.Connection:
    """A new store at ``path``, made while no other spanlite process makes one in its directory; or the store that
    another process made there while this one waited."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot open trace store {path}: {exc}") from exc
    with _making_stores(path.parent) as alone:
        holds = _identify(path)  # again: it may have been made while this process waited
        if holds == "none" and not create:
            raise StoreError(f"no trace store at {path}")
        if holds == "empty" and not fill_empty:
            raise StoreError(f"{path} is an empty file, not a spanlite trace store")
        if holds == "blank" and not fill_empty:
            raise StoreError(f"{path} is an SQLite database without tables, not a spanlite trace store")
        if holds in ("none", "empty") and alone:
            _clear_leftovers(path)
        return _open(path, new=holds == "none")


def _open(path: Path, *, new: bool = False) -> sqlite3.Connection:
    conn = _connect(path, new=new)
    try:
        _configure(conn)
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def _making_stores(directory: Path) -> Iterator[bool]:
    """Held while a store is made in ``directory``: by one spanlite process (or thread) at a time.

    Yields whether the lock is held: where the directory cannot be locked, the store is still made, as SQLite alone
    would make it. The lock is on the directory itself (``flock``), so no file is left beside the store.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        fd = -1
    try:
        yield fd >= 0 and _lock(fd, directory)
    finally:
        if fd >= 0:
            os.close(fd)  # and with it the lock


def _lock(fd: int, directory: Path) -> bool:
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise StoreError(f"another process has been making a trace store in {directory} for too long") from None
            time.sleep(0.005)
        except OSError:  # a file system without locks
            return False


def _clear_leftovers(path: Path) -> None:
    """Remove the log and shared memory a deleted store left beside ``path``.

    A process that still has the deleted store open keeps them (SQLite deletes them with the last connection), and
    a new store would be read through them: "disk I/O error" for every write. No store is live at ``path`` (its
    file is missing or empty, and SQLite puts a database in WAL mode only once its file has a page), and every
    spanlite process that makes one holds the directory's lock, so the log removed here is no live store's.
    """
    for leftover in (f"{path}-wal", f"{path}-shm"):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass


def _connect(path: Path, *, new: bool = False) -> sqlite3.Connection:
    """A connection to the file at ``path``; it makes the file only if ``new``: a store deleted since it was
    identified is made again under the lock (``_make``), not by whichever connection comes first."""
    target = str(path) if new else f"{path.absolute().as_uri()}?mode=rw"
    return sqlite3.connect(
        target, uri=not new, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )


def _store_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    code = (exc.sqlite_errorcode or 0) & 0xFF  # the primary code of an extended one
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # a store in use, not a bad one
        return StoreError(f"trace store {path} was locked by another process for too long ({exc}); try again")
    if code == sqlite3.SQLITE_CANTOPEN:
        return StoreError(f"cannot open trace store {path}: {exc}")
    return StoreError(f"{path} is not a usable spanlite trace store: {exc}")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring a store identified as one (or an empty file made one) up to the current schema."""
    applied = _applied(conn)
    if applied == set(NAMES):
        return
    if not applied:
        if _create(conn):
            return
        if not (applied := _applied(conn)):  # tables appeared since it was identified, and they are not ours
            raise _not_a_store(path)
        if applied == set(NAMES):  # made by another process meanwhile
            return
    from sqlite_utils import Database

    with write_transaction(conn):  # two processes opening an old store cannot both migrate it
        registry().apply(Database(conn))


def _create(conn: sqlite3.Connection) -> bool:
    """Make an empty file a store in plain SQL (``_schema``); ``False`` if another process began it first."""
    with write_transaction(conn):
        if _user_tables(conn):
            return False
        _schema.create(conn)
    return True


def _applied(conn: sqlite3.Connection) -> set[str]:
    """The schema steps this store has, as sqlite-utils' runner records them."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'").fetchone():
        return set()
    rows = conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET])
    return {name for (name,) in rows}


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

    Taking it at the start means a read-then-write never fails half way with ``SQLITE_BUSY`` when another
    process writes too: it waits (``busy_timeout``) for its turn instead.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _user_tables(conn: sqlite3.Connection) -> set[str]:
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in names if not name.startswith("sqlite_")}
