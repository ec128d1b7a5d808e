"""Open a store file: pragmas, migrations, and a clear error for a database from a newer spanlite.

Writers (the exporter, its writer process) and readers (``TraceStore``, so the CLI and the viewer) use a plain
``sqlite3`` connection (``open_connection``). sqlite-utils, which imports pandas and numpy wherever they are
installed (0.6 s and 90 MB in a process that uses neither), is imported only to migrate a store made by an older
spanlite, or on request (``connect``, ``TraceStore.db``); a new store gets its schema in plain SQL (``_schema``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from spanlite.tracing import _settings

from . import _schema
from ._migrations import MIGRATION_SET, NAMES, registry

if TYPE_CHECKING:
    from sqlite_utils import Database

BUSY_TIMEOUT_MS = 30_000
WAL_CHECKPOINT_PAGES = 4_000  # 64 MB of WAL at most between checkpoints


class StoreError(Exception):
    """A store that cannot be used: not a spanlite database, unreadable, or from a newer spanlite."""


def default_db_path() -> Path:
    """``$SPANLITE_DB``, else ``traces.db`` in the user data directory (``~/.local/share/spanlite``)."""
    if configured := _settings.path("SPANLITE_DB"):
        return configured
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "spanlite" / "traces.db"


def open_connection(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """A connection to ``path`` with the schema up to date, usable from any thread; ``StoreError`` if it cannot be."""
    path = Path(path).expanduser()
    if not create and not path.exists():
        raise StoreError(f"no trace store at {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open trace store {path}: {exc}") from exc
    try:
        _configure(conn)
        _migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path} is not a usable spanlite trace store: {exc}") from exc
    except StoreError:
        conn.close()
        raise
    return conn


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


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    applied = _applied(conn)
    if unknown := applied - set(NAMES):
        raise StoreError(
            f"{path} was written by a newer spanlite (schema steps {sorted(unknown)} are unknown here); "
            "upgrade spanlite to read it"
        )
    if applied == set(NAMES):
        return
    if applied.isdisjoint(NAMES) and _user_tables(conn) - {"_sqlite_migrations"}:
        raise StoreError(f"{path} is an SQLite database but not a spanlite trace store")
    if not applied and (_create(conn) or _applied(conn) == set(NAMES)):  # made here, or by another process
        return
    from sqlite_utils import Database

    with write_transaction(conn):  # two processes opening a new file cannot both migrate it
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
