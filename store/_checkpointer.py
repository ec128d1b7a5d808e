"""Copy the write-ahead log back into the store from a thread of its own, so the writer never waits on the disk.

In WAL mode a commit only appends to the log. The checkpoint that copies the log into the database file syncs both
files, and SQLite runs it inside whichever commit crosses ``wal_autocheckpoint``: under sustained ingest the writer
spent about a third of its time waiting on those syncs. A ``Checkpointer`` runs them beside the writer instead, on
its own connection, in ``PASSIVE`` mode, which never blocks the writer or a reader. The writer's own automatic
checkpoint stays on, at ``BACKSTOP`` times the usual size, in case this thread falls behind.

The log is only rewound once a checkpoint has caught up with it entirely, which a writer that never pauses rarely
lets happen: under sustained load it grows to the backstop (256 MB) and is cut back to 64 MB once written out.
A writer that pauses checkpoints a log past 64 MB in its pauses (``idle``), however few spans it has stored.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

from spanlite.tracing._threads import start_thread

from ._db import BUSY_TIMEOUT_MS, WAL_CHECKPOINT_PAGES

logger = logging.getLogger("spanlite")

LOG_BYTES_KEPT = 64 * 1024 * 1024
SPANS_PER_CHECKPOINT = 10_000  # about WAL_CHECKPOINT_PAGES of log for small spans, fewer pages for big ones
BACKSTOP = 4
PASSES = 8  # a pass copies what the log held when it began; the next ones, what came in meanwhile


class Checkpointer:
    """Checkpoints ``path`` every ``SPANS_PER_CHECKPOINT`` spans its writer stores; the thread starts with the first."""

    def __init__(self, path: Path, writer: sqlite3.Connection) -> None:
        self._path = path
        writer.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES * BACKSTOP}")
        writer.execute(f"PRAGMA journal_size_limit = {LOG_BYTES_KEPT}")
        self._spans = 0
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

    def stored(self, spans: int) -> None:
        """Count spans the writer has committed; wake the thread once enough have been. Never raises: the spans
        are stored whatever happens here."""
        self._spans += spans
        if self._spans >= SPANS_PER_CHECKPOINT:
            self._checkpoint()

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
                try:
                    for _ in range(PASSES):
                        _, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        if copied == log_pages:
                            break
                except sqlite3.Error as exc:  # the writer's backstop checkpoint covers for it
                    logger.debug("spanlite could not checkpoint %s: %s", self._path, exc)
        finally:
            conn.close()
