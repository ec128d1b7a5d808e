"""``SQLiteSpanExporter``: the OTel exporter that writes spans into a spanlite store."""

from __future__ import annotations

import logging
import marshal
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanlite.tracing import _settings, redaction
from spanlite.tracing._exporters import StoreExporter
from spanlite.tracing._threads import start_thread

from ._rows import MAX_ROW_BYTES, PackedSpan, bounded_span, pack_span
from ._schema import DROPPED_SPANS
from ._store_writer import StoreWriter, WriteFailure
from ._writer_process import WriterGone, WriterProcess
from .prices import PriceTable

logger = logging.getLogger("spanlite")

# Spans are bounded by the writer (``_rows.bounded_span``), in its child process when there is one, at no cost to the
# app. A batch this large is bounded before it is sent: a huge value is not copied whole through the pipe.
_LARGE_BATCH = 16 * MAX_ROW_BYTES
# Writes one batch in this process: the batch as it was handed over (packed spans, or rows), and ``give_up_at``.
_WriteHere = Callable[[Sequence[Any], float | None], WriteFailure | None]


class Marshalled(NamedTuple):
    """A batch as the writer child reads it (``SQLiteSpanExporter.pack``): plain bytes, no work for the garbage
    collector while the batch waits to be stored."""

    data: bytes
    spans: int  # how many (not ``count``: that is tuple's)


class SQLiteSpanExporter(SpanExporter, StoreExporter):
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

    ``prices``: the table each model call's ``cost`` is reckoned by when it is stored, in this process or the
    child (default: the bundled one, ``spanlite.store.prices``).

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
        prices: PriceTable | None = None,
    ) -> None:
        self.path = Path(path)
        self._prices = prices
        self.last_error: str | None = None  # why the last export failed, for the processor's one warning
        # The last failure was the batch's own, not the store's: writing the same spans again would fail again.
        self.last_error_permanent = False
        mode = writer or _settings.choice("SPANLITE_WRITER", "auto", ("auto", "thread", "process"))
        if mode not in ("auto", "thread", "process"):
            raise ValueError(f"writer must be 'auto', 'thread' or 'process', not {mode!r}")
        # Writing in this process; made first, to fail here, loudly, for a bad path, someone else's file or a newer
        # schema.
        self._writer = StoreWriter(self.path, redact, prices)
        self._closed = False
        self._deadline: float | None = None  # ``time.monotonic()`` by which every write gives up (``set_deadline``)
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
        self._deadline = self._writer.deadline = deadline
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
        return self._remember(self._write("packed", packed, self._writer.write_packed))

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
        return self._write("rows", rows, self._writer.write_rows, give_up_at)

    def _remember(self, failure: WriteFailure | None) -> bool:
        self.last_error, self.last_error_permanent = failure or (None, False)
        return failure is None

    def _write(
        self, kind: str, batch: Marshalled | Sequence[Any], write_here: _WriteHere, give_up_at: float | None = None
    ) -> WriteFailure | None:
        """Send ``(kind, batch, give_up_at)`` to the writer child if one runs; else ``write_here`` it."""
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
        return write_here(batch if marshalled is None else marshal.loads(marshalled.data)[1], give_up_at)

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
            try:
                self._starter = start_thread(self._start_child, "spanlite-writer-start")
            except RuntimeError:  # at interpreter shutdown (Python 3.12+): this process writes what is left
                self._mode = "thread"
        return None

    def _start_child(self) -> None:
        assert self._child_redactors is not None
        try:
            child = WriterProcess(self.path, self._child_redactors, self._prices.added if self._prices else None)
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
        # The pipes to the writer child belong to the parent; this process starts its own child if it needs one. The
        # lock may have been held by a thread of the parent's. (The writer sees to its connection and lock itself.)
        self._starting = threading.Lock()
        self._starter = None
        if self._child is not None:
            self._child.forget()
            self._child = None

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
        if (failure := self._writer.add_counts(counts, give_up_at)) is not None:
            self.last_error = failure.message
            return False
        return True

    def on_idle(self) -> bool:
        """Index some not-yet-indexed text while no spans wait, then see to the log; ``True`` if more remains."""
        if self._closed or self._child is not None:  # a writer child indexes between its own writes
            return False
        return self._writer.on_idle()

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
        self._writer.close(wait)
