"""``SQLiteSpanExporter``: the OTel exporter that writes spans into a spanlite store."""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanlite.tracing import _settings, redaction
from spanlite.tracing._threads import start_thread

from ._checkpointer import Checkpointer
from ._db import BUSY_TIMEOUT_MS, StoreError, open_connection, write_transaction
from ._rows import MAX_ROW_BYTES, PackedSpan, bounded_span, pack_span, packed_span_row, redact_rows
from ._text_index import CHUNK
from ._writer import index_text, write_spans
from ._writer_process import WriterGone, WriterProcess

logger = logging.getLogger("spanlite")

_ToRows = Callable[[Sequence[Any]], list[dict[str, Any]]]  # a batch (packed spans, or rows) as rows to store
# SQLite's "string or blob too big" (SQLITE_TOOBIG, the only code Python maps to DataError): a row over its length
# limit, which no retry will change. Spans are bounded well below the default limit (``_rows.bounded``); a store
# whose limit is lower can still refuse one. Not the store's failure, then, but the span's, as in ``_write_each``.
_TOO_BIG = sqlite3.DataError
# Spans are bounded by the writer (``_rows.bounded_span``), in its child process when there is one, at no cost to the
# app. A batch this large is bounded before it is sent: a huge value is not copied whole through the pipe.
_LARGE_BATCH = 16 * MAX_ROW_BYTES
_T = TypeVar("_T")
# SQLite waits for a locked store in steps this long, and between them the exporter looks at its deadline: one
# wait of the whole busy timeout could not be cut short when the process has to end.
BUSY_STEP_MS = 100
DROPPED_SPANS = "dropped_spans"  # the counter of spans that writers had to drop


class Marshalled(NamedTuple):
    """A batch as the writer child reads it (``SQLiteSpanExporter.pack``): plain bytes, no work for the garbage
    collector while the batch waits to be stored."""

    data: bytes
    spans: int  # how many


class WriteFailure(NamedTuple):
    """Why a batch was not stored; ``permanent``: it never will be (the spans' own fault, not the store's)."""

    message: str
    permanent: bool


class SQLiteSpanExporter(SpanExporter):
    """Write each batch of spans to ``path`` in one transaction. Never raises: failures return ``FAILURE``.

    ``redact`` sees every text a span stores before it is written (its name, inputs, outputs, attributes, events,
    status message, and what it says about its trace: session and user ids, tags, metadata); by default it removes
    credentials (``spanlite.tracing.redaction.secrets``).

    ``writer``: where the SQLite work runs. ``"thread"``: in the exporting thread. ``"process"``: in a child
    process (``_writer_process``), so it uses another core instead of the app's. ``"auto"`` (the default, or
    ``$SPANLITE_WRITER``) starts in the thread and moves to a child once spans arrive faster than
    ``AUTO_SPANS_PER_S``, so a script with a few traces never starts one (the child starts in the background while
    the thread writes on). A redactor of the user's own cannot be
    sent to a child: with one, the writer stays in the thread. Should the child die, writing goes on in-process.

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(BatchSpanProcessor(SQLiteSpanExporter("traces.db")))  # doctest: +SKIP
    """

    AUTO_SPANS_PER_S = 1_000

    def __init__(
        self,
        path: str | Path,
        *,
        redact: redaction.Redactor | None = redaction.secrets,
        writer: Literal["auto", "thread", "process"] | None = None,
    ) -> None:
        self.path = Path(path)
        self.redact = redact
        self.last_error: str | None = None  # why the last export failed, for the processor's one warning
        # The last failure was the batch's own, not the store's: writing the same spans again would fail again.
        self.last_error_permanent = False
        mode = writer or _settings.choice("SPANLITE_WRITER", "auto", ("auto", "thread", "process"))
        if mode not in ("auto", "thread", "process"):
            raise ValueError(f"writer must be 'auto', 'thread' or 'process', not {mode!r}")
        # Fail here, loudly, for a bad path, someone else's file or a newer schema; a fresh empty file becomes a store.
        self._open()
        # In a forked child, the parent's connection: never used here, and held so that it is never closed here
        # either (dropped, it would be closed, rolling back under the parent a write it may have been part way through).
        self._parents_conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._deadline: float | None = None  # ``time.monotonic()`` by which every write gives up (``set_deadline``)
        # A writer child answers a write before it sees to the log (``upkeep``): a log rewind can take seconds, and
        # an app ending meanwhile would count as dropped spans that are stored.
        self.upkeep_later = False
        self._upkeep_due = 0  # spans stored since the last ``upkeep``
        self._child_redactors = redaction.built_in_names(redact)
        self._mode = mode if self._child_redactors is not None else "thread"
        self._child: WriterProcess | None = None
        self._window = (0.0, 0)  # (start, spans) of the current second, for the "auto" mode
        self._starter: threading.Thread | None = None  # "auto" starts its child in the background
        self._starting = threading.Lock()  # guards starting and losing the child
        ref = weakref.ref(self)

        def after_fork() -> None:
            if (exporter := ref()) is not None:
                exporter._after_fork()

        os.register_at_fork(after_in_child=after_fork)

    def set_deadline(self, deadline: float | None) -> None:
        """Have every write, and ``shutdown``, give up at ``deadline`` (``time.monotonic()``) instead of waiting out
        a store locked by another process or a busy writer process: the app is ending and must end in time. A write
        that gives up fails (the spans are not stored) and says why in ``last_error``."""
        self._deadline = deadline
        if (child := self._child) is not None:
            child.give_up_at = deadline

    @property
    def writer_pid(self) -> int | None:
        """The writer child's process id while one is writing, else ``None``."""
        return self._child.pid if self._child is not None else None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        packed = self.pack(spans)
        return SpanExportResult.FAILURE if packed is None else self.export_packed(packed)

    def pack(self, spans: Sequence[ReadableSpan]) -> Marshalled | list[PackedSpan] | None:
        """``spans`` as the writer reads them, so that the caller can let go of the spans before they are stored
        (``export_packed``); ``None`` (and ``last_error``) if they cannot be read, which a retry would not change.

        Held until stored, tens of ms under load, the SDK's span objects would outlive two garbage collections and
        be promoted to the oldest generation, whose full collections walk the whole app: 16–23 of them in 200,000
        spans beside 200,000 dicts of app data, against 2–13 let go first (``bench/gc_pressure.py``). A batch
        ``marshal`` cannot carry (a str subclass, say) stays as packed spans, written in this process.
        """
        try:
            packed = [pack_span(span) for span in spans]
        except Exception as exc:
            self.last_error, self.last_error_permanent = f"{type(exc).__name__}: {exc}", True
            logger.exception("spanlite could not read %d spans", len(spans))
            return None
        try:
            try:
                data: bytes | None = marshal.dumps(("packed", packed, None))
            except MemoryError:
                data = None
            if data is None or len(data) > _LARGE_BATCH:  # a huge span, most likely: bounded here, not sent whole
                packed = [bounded_span(p) for p in packed]
                data = marshal.dumps(("packed", packed, None))
            return Marshalled(data, len(packed))
        except ValueError:
            return packed

    def export_packed(self, packed: Marshalled | list[PackedSpan]) -> SpanExportResult:
        """Write a batch from ``pack``; ``SUCCESS`` once it is committed."""
        if self._closed:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if self.write_packed(packed) else SpanExportResult.FAILURE

    def write_packed(self, packed: Marshalled | Sequence[PackedSpan]) -> bool:
        """Write packed spans (``_rows.pack_span``) in one transaction, through the writer child if one runs.

        The child turns them into rows and redacts them, sparing the app's core. ``False`` (and ``last_error``) if
        they could not be written.
        """
        failure = self._write("packed", packed, lambda items: self._redacted([packed_span_row(p) for p in items]))
        return self._remember(failure)

    def write_rows(self, rows: list[dict[str, Any]], give_up_at: float | None = None) -> bool:
        """Write rows ready to store (``_rows.span_row``, already redacted) in one transaction; ``False`` (and
        ``last_error``) if they could not be written."""
        return self._remember(self.store_rows(rows, give_up_at))

    def store_rows(self, rows: list[dict[str, Any]], give_up_at: float | None = None) -> WriteFailure | None:
        """``write_rows`` for callers in several threads at once: ``None`` once committed, else why not.

        For a caller with a core to spare beside the writer child, as the receiver has: the child then only does
        SQLite, and the requests of several threads queue up for it. ``give_up_at`` (``time.monotonic()``, which
        is the same clock in the writer child): from then on the write no longer waits for a store that another
        connection holds locked, however long it waited in line behind other writes; the receiver's senders are
        waiting for their answer.
        """
        return self._write("rows", rows, list, give_up_at)

    def _remember(self, failure: WriteFailure | None) -> bool:
        self.last_error, self.last_error_permanent = failure or (None, False)
        return failure is None

    def _write(
        self, kind: str, batch: Marshalled | Sequence[Any], to_rows: _ToRows, give_up_at: float | None = None
    ) -> WriteFailure | None:
        """Send ``(kind, batch, give_up_at)`` to the writer child if one runs; else write ``to_rows(batch)`` here."""
        if self._closed:  # a request still in flight as the receiver stops: no new writer child for it
            return WriteFailure("the store is closed", False)
        marshalled = batch if isinstance(batch, Marshalled) else None
        child = self._child_for(len(batch) if marshalled is None else marshalled.spans)
        if child is not None:
            try:
                message = (kind, batch, give_up_at)
                ok, error, permanent = child.request(message) if marshalled is None else child.send(marshalled.data)
            except WriterGone as exc:
                self._lose_child(child, exc)
            except ValueError:  # a value marshal cannot carry (a str subclass, say): this batch is written here
                pass
            else:
                return None if ok else WriteFailure(error or "write failed", permanent)
        return self._write_here(batch if marshalled is None else marshal.loads(marshalled.data)[1], to_rows, give_up_at)

    def _redacted(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return redact_rows(rows, self.redact) if self.redact is not None else rows

    def _write_here(self, batch: Sequence[Any], to_rows: _ToRows, give_up_at: float | None) -> WriteFailure | None:
        try:
            ready = to_rows(batch)
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
        self.record_dropped(len(lost))
        return None

    def _stored(self, spans: int) -> None:
        """Tell the checkpointer about spans just committed (the caller holds ``_lock``), now or at ``upkeep``."""
        if self.upkeep_later:
            self._upkeep_due += spans
        else:  # no rewind once the app is ending (a deadline is set): it could take seconds past the deadline
            self._checkpointer.stored(spans, rewind=self._deadline is None)

    def upkeep(self) -> None:
        """See to the log for the spans stored since the last call, when ``upkeep_later`` put it off."""
        if self._upkeep_due:
            with self._locked():
                spans, self._upkeep_due = self._upkeep_due, 0
                self._checkpointer.stored(spans)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """``_lock``, waited for until the deadline if there is one (then ``StoreError``)."""
        deadline = self._deadline
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
                # The deadline is read each time: the app may begin to end (``set_deadline``) while this waits.
                if time.monotonic() >= min(m for m in (give_up, self._deadline, until) if m is not None):
                    raise

    def _child_for(self, count: int) -> WriterProcess | None:
        """The writer child if one runs, started now if the mode asks for one; ``None`` to write in this process.

        ``"auto"`` starts it in a background thread and writes here until it is ready: under a burst, the second or
        so a new Python process takes to start would otherwise hold every export up while the queue fills.
        """
        if self._child is not None or self._mode == "thread":
            return self._child
        if self._mode == "process":
            with self._starting:  # one child, however many threads ask at once
                if self._child is None and self._mode == "process":
                    self._start_child()
            return self._child
        now = time.monotonic()
        start, spans = self._window
        self._window = (start, spans + count) if now - start < 1.0 else (now, count)
        if self._starter is None and self._window[1] >= self.AUTO_SPANS_PER_S:
            self._starter = start_thread(self._start_child, "spanlite-writer-start")
        return None

    def _start_child(self) -> None:
        assert self._child_redactors is not None
        try:
            child = WriterProcess(self.path, self._child_redactors)
        except (OSError, WriterGone) as exc:
            logger.debug("spanlite could not start a writer process, writing in-process: %s", exc)
            self._mode = "thread"
            return
        if self._closed:  # shut down while it started
            child.close()
            return
        child.give_up_at = self._deadline
        self._child = child

    def _lose_child(self, child: WriterProcess, why: Exception) -> None:
        with self._starting:
            if self._child is not child:  # another thread's request saw it go first
                return
            self._child = None
            self._mode = "thread"
        if not self._closed and self._deadline is None:  # closing it, or the app ending, is what stopped it
            logger.warning("spanlite's writer process stopped (%s); writing in-process from now on", why)
        child.close(timeout_s=1.0)

    def _after_fork(self) -> None:
        # The pipes to the writer child belong to the parent; this process starts its own child if it needs one.
        # So do the connection (see ``_connection``) and the locks, which a thread of the parent's may have held.
        self._lock = threading.Lock()
        self._starting = threading.Lock()
        self._starter = None
        self._checkpointer.forget_thread()
        if self._child is not None:
            self._child.forget()
            self._child = None

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

    def record_dropped(self, count: int) -> bool:
        """Add ``count`` to the store's ``dropped_spans`` counter so drops show up in ``stats()``."""
        return self.add_counts({DROPPED_SPANS: count})

    def add_counts(self, counts: dict[str, int], give_up_at: float | None = None) -> bool:
        """Add to the store's named counters (``stats()`` reads them) in one transaction; ``False`` (and
        ``last_error``) if they could not be; ``give_up_at`` as for ``store_rows``."""
        if self._closed:
            return False
        if (child := self._child) is not None:
            try:
                return child.request(("counts", counts, give_up_at))[0]
            except WriterGone as exc:
                self._lose_child(child, exc)
        try:
            with self._locked():
                self._while_busy(_add_counts, self._connection(), counts, until=give_up_at)
        except (sqlite3.Error, StoreError) as exc:
            self.last_error = f"{self.path}: {exc}"
            return False
        return True

    def on_idle(self) -> bool:
        """Index some not-yet-indexed text while no spans wait, then see to the log; ``True`` if more remains."""
        if self._closed or self._child is not None:  # a writer child indexes between its own writes
            return False
        try:
            with self._locked():
                more = index_text(self._connection()) == CHUNK  # a locked store is indexed later: no wait for it here
        except (sqlite3.Error, StoreError) as exc:
            logger.debug("spanlite could not index text now: %s", exc)
            return False
        if not more:
            self._checkpointer.idle()
        return more

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is committed before it returns

    def shutdown(self) -> None:
        """Close the store, ending the writer process; by the deadline, if one is set."""
        if self._closed:
            return
        self._closed = True
        wait = None if self._deadline is None else max(self._deadline - time.monotonic(), 0)
        if self._starter is not None:
            self._starter.join(wait)  # a child it starts from now on sees the store closed and ends
        if self._child is not None:
            self._child.close(5.0 if wait is None else wait)
            self._child = None
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            return  # another thread's write is still under way as the app ends: the connection ends with the app
        try:
            self._checkpointer.close(wait)
            if self._conn_pid == os.getpid():
                self._conn.close()
        finally:
            self._lock.release()


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
