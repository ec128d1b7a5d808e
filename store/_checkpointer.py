"""Copy the write-ahead log back into the store from a thread of its own, so the writer never waits on the disk.

In WAL mode a commit only appends to the log. The checkpoint that copies the log into the database file syncs both
files, and SQLite runs it inside whichever commit crosses ``wal_autocheckpoint``: under sustained ingest the writer
spent about a third of its time waiting on those syncs. A ``Checkpointer`` runs them beside the writer instead, on
its own connection, in ``PASSIVE`` mode, which never blocks the writer or a reader. The writer's own automatic
checkpoint stays on, at ``BACKSTOP`` times the usual size, in case this thread falls behind.

The log is only rewound once a checkpoint has caught up with it entirely and no reader is left in it, which
writers that never pause never let happen: with several processes writing, neither this thread's checkpoints nor
the backstop (both ``PASSIVE``) caught up, and four saturated writers grew the log to 5.9 GB in a minute. So a
writer that commits a log past ``REWIND`` times the usual size (128 MB) rewinds it (``_rewind``): a ``RESTART``
checkpoint holds every writer back while it copies the rest and waits (``REWIND_BUSY_MS`` at most) for readers to
leave the log, and the next commit writes from the start of the log again, cutting the file back to 64 MB. Under
sustained load the log thus stays near 128 MB, however many processes write. A writer that pauses checkpoints a
log past 64 MB in its pauses (``idle``), however few spans it has stored.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from spanlite.tracing._threads import start_thread

from ._db import BUSY_TIMEOUT_MS, LOG_BYTES_KEPT, WAL_CHECKPOINT_PAGES

logger = logging.getLogger("spanlite")

SPANS_PER_CHECKPOINT = 10_000  # about WAL_CHECKPOINT_PAGES of log for small spans, fewer pages for big ones
BACKSTOP = 4
PASSES = 8  # a pass copies what the log held when it began; the next ones, what came in meanwhile
REWIND = 2  # times LOG_BYTES_KEPT: a log this long is rewound by force, however many processes write
REWIND_BUSY_MS = 100  # how long a rewind may wait for the write lock, or for a reader while holding writers back
REWIND_PAUSE_S = 1.0  # the longest a writer writes on after rewinds held up, before it tries the next


class Checkpointer:
    """Checkpoints ``path`` every ``SPANS_PER_CHECKPOINT`` spans its writer stores; the thread starts with the first."""

    def __init__(self, path: Path, writer: sqlite3.Connection) -> None:
        self._path = path
        self._writer = writer
        writer.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES * BACKSTOP}")
        self._spans = 0
        self._rewind_after = 0.0  # monotonic time before which no rewind is tried
        self._rewinds_held_up = 0  # in a row
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def idle(self) -> None:
        """While no spans wait: checkpoint a log grown past the usual size, as SQLite would have at a commit, so
        that a store written slowly keeps a small log too."""
        if self._spans and self._wal_bytes() > LOG_BYTES_KEPT:
            self._checkpoint()

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(f"{self._path}-wal")
        except OSError:
            return 0

    def stored(self, spans: int, *, rewind: bool = True) -> None:
        """Count spans the writer has committed, in the writer's thread, right after the commit; wake the thread
        once enough have been, or rewind a log past its bound (unless ``rewind`` is false: the app is ending, and
        the next writer will). Never raises: the spans are stored whatever happens here."""
        self._spans += spans
        if rewind and self._wal_bytes() > REWIND * LOG_BYTES_KEPT:
            self._rewind(self._writer)
        elif self._spans >= SPANS_PER_CHECKPOINT:
            self._checkpoint()

    def _rewind(self, conn: sqlite3.Connection) -> None:
        """Copy the rest of the log into the store holding every writer back, so that the next commit writes from
        the start of the log again; never raises.

        Run by every writer that has just committed a log past its bound, in its own thread: the first to get the
        checkpoint lock takes the write lock before other writers, asleep in their busy handlers, wake up for it,
        and the others wait for it to finish (``REWIND_BUSY_MS`` at most) rather than queue for the write lock
        ahead of it. A reader that stays in the log holds a rewind up for that long, holding the writers too; so
        after a rewind of its own that did not finish, a writer writes on a while before the next: twice as long
        after each, up to ``REWIND_PAUSE_S``, so that a long reader costs writers a tenth of their time at most
        while a writer that held the write lock a little too long delays the next rewind only a little.
        """
        start = time.monotonic()
        if start < self._rewind_after:
            return
        try:
            conn.execute(f"PRAGMA busy_timeout = {REWIND_BUSY_MS}")
            try:
                # (1, -1, -1): another connection is checkpointing; anything else: this one did, done or not.
                while (result := conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()) == (1, -1, -1):
                    if time.monotonic() - start > REWIND_BUSY_MS / 1000:
                        break
                    time.sleep(0.001)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            logger.debug("spanlite could not rewind the log of %s: %s", self._path, exc)
            return
        if not result[0]:
            self._rewinds_held_up = 0
        elif result != (1, -1, -1):  # this one checkpointed: a reader held it up, or the writers did
            self._rewinds_held_up = min(self._rewinds_held_up + 1, 10)
            pause = min(REWIND_PAUSE_S, REWIND_BUSY_MS / 1000 * 2**self._rewinds_held_up)
            self._rewind_after = time.monotonic() + pause

    def _checkpoint(self) -> None:
        """Wake the thread, started now if it is not yet; never raises."""
        if self._closed:
            return
        self._spans = 0
        if self._thread is None:
            try:
                thread = start_thread(self._run, "spanlite-checkpoint")
            except RuntimeError as exc:  # no thread to be had (at exit, or a limit): the writer's backstop stays
                logger.debug("spanlite could not start its checkpoint thread: %s", exc)
                self._closed = True
                return
            self._thread = thread
        self._wake.set()

    def forget_thread(self) -> None:
        """In a forked child of the app: the parent's thread is not in this process; one starts here when needed."""
        self._thread = None
        self._wake = threading.Event()
        self._spans = 0

    def close(self, timeout_s: float | None = None) -> None:
        """Let a checkpoint under way finish (for at most ``timeout_s``); the store's last connection to close
        checkpoints what is left."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            logger.debug("spanlite could not open %s to checkpoint it: %s", self._path, exc)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed:
                    return
                if self._wal_bytes() > REWIND * LOG_BYTES_KEPT:
                    self._rewind(conn)  # for a writer that paused past the bound; one that commits rewinds it too
                    continue
                try:
                    for _ in range(PASSES):
                        _, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        if copied == log_pages or self._wal_bytes() > REWIND * LOG_BYTES_KEPT:
                            break  # caught up, or the writers are to rewind it and need the checkpoint lock
                except sqlite3.Error as exc:  # the writer's backstop checkpoint covers for it
                    logger.debug("spanlite could not checkpoint %s: %s", self._path, exc)
        finally:
            conn.close()
