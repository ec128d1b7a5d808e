"""``StoreWriter``: one process's writing of a store, wherever that process is.

The exporter writes through one in the app's process; the writer child (``_writer_process``) writes through one on
the app's behalf. Either way a write is one transaction on this process's own connection, under one lock; a store
that another connection holds locked is waited for step by step, so that a deadline can cut the wait short; a store
file deleted under a running app is made again; a forked child opens its own connection; and the log is kept short
by a ``Checkpointer`` beside the writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from spanlite.tracing import redaction
from spanlite.tracing._guard import guard

from ._checkpointer import Checkpointer
from ._db import BUSY_TIMEOUT_MS, StoreError, open_connection, write_transaction
from ._rows import PackedSpan, packed_span_row, redact_rows
from ._schema import DROPPED_SPANS
from ._text_index import CHUNK
from ._writer import index_text, write_spans
from .prices import PriceTable, Usage

logger = logging.getLogger("spanlite")

_ToRows = Callable[[Sequence[Any]], list[dict[str, Any]]]  # a batch (packed spans, or rows) as rows to store
# SQLite's "string or blob too big" (SQLITE_TOOBIG, the only code Python maps to DataError): a row over its length
# limit, which no retry will change. Spans are bounded well below the default limit (``_rows.bounded``); a store
# whose limit is lower can still refuse one. Not the store's failure, then, but the span's, as in ``_write_each``.
_TOO_BIG = sqlite3.DataError
_T = TypeVar("_T")
# SQLite waits for a locked store in steps this long, and between them the writer looks at its deadline: one
# wait of the whole busy timeout could not be cut short when the process has to end.
BUSY_STEP_MS = 100


class WriteFailure(NamedTuple):
    """Why a batch was not stored; ``permanent``: it never will be (the spans' own fault, not the store's)."""

    message: str
    permanent: bool


class StoreWriter:
    """Write batches to the store at ``path`` from this process, safe from any number of threads.

    Opening fails, loudly, for a bad path, someone else's file or a newer schema; a fresh empty file becomes a
    store. ``redact`` sees every text of packed spans before they are stored (``write_packed``). ``prices``: what
    each model call's ``cost`` is reckoned by as it is stored, whoever made its row (default: the bundled table).
    """

    def __init__(self, path: Path, redact: redaction.Redactor | None, prices: PriceTable | None = None) -> None:
        self.path = path
        self._redact = redact
        self._prices = prices if prices is not None else PriceTable.bundled()
        self._open()
        # In a forked child, the parent's connection: never used here, and held so that it is never closed here
        # either (dropped, it would be closed, rolling back under the parent a write it may have been part way through).
        self._parents_conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.deadline: float | None = None  # ``time.monotonic()`` by which every write gives up
        # A writer child answers a write before it sees to the log (``upkeep``): a log rewind can take seconds, and
        # an app ending meanwhile would count as dropped spans that are stored.
        self.upkeep_later = False
        self._upkeep_due = 0  # spans stored since the last ``upkeep``
        ref = weakref.ref(self)

        def after_fork() -> None:
            if (writer := ref()) is not None:
                writer._after_fork()

        os.register_at_fork(after_in_child=after_fork)

    def write_packed(self, packed: Sequence[PackedSpan], give_up_at: float | None = None) -> WriteFailure | None:
        """Store packed spans (``_rows.pack_span``), as rows and redacted, in one transaction: ``None`` once
        committed, else why not."""
        return self._write(packed, self._packed_rows, give_up_at)

    def write_rows(self, rows: Sequence[dict[str, Any]], give_up_at: float | None = None) -> WriteFailure | None:
        """Store rows ready to store (``_rows.span_row``, already redacted) in one transaction; ``give_up_at``
        (``time.monotonic()``): from then on the write no longer waits for a store another connection holds locked."""
        return self._write(rows, list, give_up_at)

    def _packed_rows(self, packed: Sequence[PackedSpan]) -> list[dict[str, Any]]:
        rows = [packed_span_row(p) for p in packed]
        return redact_rows(rows, self._redact) if self._redact is not None else rows

    def _price(self, rows: Sequence[dict[str, Any]]) -> None:
        """Set the ``cost`` of each row that reports a model call's usage (``_rows.span_row``'s ``usage``)."""
        cost = self._prices.cost
        for row in rows:
            if (usage := row.get("usage")) is not None and row.get("cost") is None:
                row["cost"] = cost(Usage(*usage))

    def _write(self, batch: Sequence[Any], to_rows: _ToRows, give_up_at: float | None) -> WriteFailure | None:
        try:
            ready = to_rows(batch)
            guard(self._price, ready)  # a pricing bug costs the rows their cost, never the rows
            with self._locked():
                self._reopen_if_replaced()
                self._while_busy(write_spans, self._conn, ready, until=give_up_at)
                self._stored(len(ready))
        except _TOO_BIG:  # a span SQLite refuses for its size: the spans' own, like the next clause
            return self._write_each(batch, to_rows, give_up_at)
        except (sqlite3.Error, StoreError, OSError) as exc:  # the store's: locked, full disk, deleted, ...
            logger.debug("spanlite could not write %d spans to %s: %s", len(batch), self.path, exc)
            return WriteFailure(f"{self.path}: {exc}", False)
        except Exception:  # the spans' own: the same ones would fail again, so find which
            return self._write_each(batch, to_rows, give_up_at)
        return None

    def _write_each(self, batch: Sequence[Any], to_rows: _ToRows, give_up_at: float | None) -> WriteFailure | None:
        """Write a batch that its own content failed one span at a time, so that an odd span costs only itself.

        Spans that still fail are counted as dropped and reported once. A failure if none could be stored (then
        it is permanent, for the caller to count and report), or if the store itself failed part way (spans
        already written are not stored twice when the batch is retried).
        """
        lost: list[str] = []
        for item in batch:
            try:
                ready = to_rows([item])
                guard(self._price, ready)
                with self._locked():
                    self._while_busy(write_spans, self._connection(), ready, until=give_up_at)
                    self._stored(1)
            except _TOO_BIG as exc:
                lost.append(f"{type(exc).__name__}: {exc}")
            except (sqlite3.Error, StoreError, OSError) as exc:
                return WriteFailure(f"{self.path}: {exc}", False)
            except Exception as exc:
                lost.append(f"{type(exc).__name__}: {exc}")
        if len(lost) == len(batch):
            logger.debug("spanlite could not store any of %d spans: %s", len(batch), lost[0])
            return WriteFailure(lost[0], True)
        logger.warning("spanlite could not store %d of %d spans (%s); the others are stored", len(lost), len(batch),
                       lost[0])  # fmt: skip
        self.add_counts({DROPPED_SPANS: len(lost)})
        return None

    def add_counts(self, counts: dict[str, int], give_up_at: float | None = None) -> WriteFailure | None:
        """Add to the store's named counters (``stats()`` reads them) in one transaction; ``give_up_at`` as for
        ``write_rows``."""
        try:
            with self._locked():
                self._while_busy(_add_counts, self._connection(), counts, until=give_up_at)
        except (sqlite3.Error, StoreError) as exc:
            return WriteFailure(f"{self.path}: {exc}", False)
        return None

    def on_idle(self) -> bool:
        """Index some not-yet-indexed text while no spans wait, then see to the log; ``True`` if more remains."""
        try:
            with self._locked():
                more = index_text(self._connection()) == CHUNK  # a locked store is indexed later: no wait for it here
        except (sqlite3.Error, StoreError) as exc:
            logger.debug("spanlite could not index text now: %s", exc)
            return False
        if not more:
            self._checkpointer.idle()
        return more

    def _stored(self, spans: int) -> None:
        """Tell the checkpointer about spans just committed (the caller holds ``_lock``), now or at ``upkeep``."""
        if self.upkeep_later:
            self._upkeep_due += spans
        else:  # no rewind once the app is ending (a deadline is set): it could take seconds past the deadline
            self._checkpointer.stored(spans, rewind=self.deadline is None)

    def upkeep(self) -> None:
        """See to the log for the spans stored since the last call, when ``upkeep_later`` put it off."""
        if self._upkeep_due:
            with self._locked():
                spans, self._upkeep_due = self._upkeep_due, 0
                self._checkpointer.stored(spans)

    def close(self, wait: float | None = None) -> None:
        """Stop checkpointing and close the connection, waiting ``wait`` seconds at most (``None``: as long as it
        takes) for a write under way in another thread; past that, the connection ends with the process."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            return
        try:
            self._checkpointer.close(wait)
            if self._conn_pid == os.getpid():
                self._conn.close()
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """``_lock``, waited for until the deadline if there is one (then ``StoreError``)."""
        deadline = self.deadline
        if not self._lock.acquire(timeout=-1 if deadline is None else max(deadline - time.monotonic(), 0)):
            raise StoreError("another write of this process did not finish by the deadline")
        try:
            yield
        finally:
            self._lock.release()

    def _while_busy(self, write: Callable[..., _T], *args: Any, until: float | None = None) -> _T:
        """``write(*args)``, tried again while another connection holds the store, for the busy timeout or until
        the deadline or ``until``. ``write`` takes the write lock first (``BEGIN IMMEDIATE``), so a try that fails
        wrote nothing."""
        give_up = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                return write(*args)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                    raise
                # The deadline is read each time: the app may begin to end (``deadline`` set) while this waits.
                if time.monotonic() >= min(m for m in (give_up, self.deadline, until) if m is not None):
                    raise

    def _after_fork(self) -> None:
        # The connection is the parent's (see ``_connection``), and so is the lock, which a thread of the parent's
        # may have held.
        self._lock = threading.Lock()
        self._checkpointer.forget_thread()

    def _connection(self) -> sqlite3.Connection:
        """The store's connection; the caller holds ``_lock``.

        A forked child opens its own: SQLite's cannot cross a fork (the parent may have been part way through a
        write with it, and its file locks stay the parent's). The parent's is kept, never to be used or closed here.
        """
        if self._conn_pid != os.getpid():
            self._parents_conn = self._conn
            self._open()
        return self._conn

    def _open(self) -> None:
        """This process's connection to the store (made, or its leftover log cleared, if need be), its checkpointer,
        and the file it is to."""
        self._conn = _writer_connection(self.path)
        self._conn_pid = os.getpid()
        self._inode = _inode(self.path)
        self._checkpointer = Checkpointer(self.path, self._conn)

    def _reopen_if_replaced(self) -> None:
        """A store file deleted (or swapped) under a running app is recreated, not written into the void."""
        self._connection()  # a forked child's own first
        inode = _inode(self.path)
        if inode == self._inode:
            return
        logger.warning("spanlite store %s was deleted or replaced; writing to a new one there", self.path)
        self._checkpointer.close()
        self._conn.close()
        self._open()  # clears the deleted store's leftover log


def _add_counts(conn: sqlite3.Connection, counts: dict[str, int]) -> None:
    with write_transaction(conn):
        conn.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            counts.items(),
        )


def _writer_connection(path: Path) -> sqlite3.Connection:
    conn = open_connection(path, fill_empty=True)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_STEP_MS}")  # ``_while_busy`` waits the rest, step by step
    return conn


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
