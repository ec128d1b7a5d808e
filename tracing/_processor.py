"""A batching span processor that never blocks the caller and accounts for every span.

The OTel SDK's ``BatchSpanProcessor`` drops spans silently when its queue is full and gives up on a batch the
first time its exporter fails. spanlite keeps a failed batch and retries it with backoff (a store locked by
another process, a full disk that gets space back); only when the queue is full or the failures go on does it
drop, and every dropped span is counted, written to the store's stats when it can be, and warned about once.
Ending a span costs one ``deque.append``.

Closing (``shutdown``, or ``_exit.close_all`` as the process ends) stores what is queued by a deadline, whatever the
store is doing, and counts what it could not: in the store's stats if the store takes that quickly, and in any case
in one warning that says how many were lost and why.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _exit, _settings
from ._exporters import DeadlineExporter, PackingExporter, StoreExporter
from ._late import settle
from ._threads import start_thread, untraced

logger = logging.getLogger("spanlite")

MAX_QUEUE = _settings.count("SPANLITE_MAX_QUEUE", 20_000)
MAX_ATTEMPTS = 6  # a batch is dropped after this many failed exports in a row (about 6 s of backoff)
RECORD_SHARE = 0.1  # the last part of the time to close, kept for counting in the store what could not be stored


class QueueProcessor(SpanProcessor):
    """Queue ended spans in memory and export them in batches from one background thread.

    ``max_queue`` bounds memory; ``delay_s`` bounds how long an ended span waits before it is readable.
    ``destination`` names where the exporter sends spans, in the warnings: with more than one, the user must be
    able to tell which one failed. What the exporter can do beyond exporting is used where it can
    (``_exporters``): the SQLite one does all of it.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        destination: str = "its exporter",
        max_queue: int = MAX_QUEUE,
        batch_size: int = 512,
        delay_s: float = 0.2,
        exit_timeout_s: float = _exit.EXIT_TIMEOUT_S,
    ) -> None:
        self.exporter = exporter
        self.destination = destination
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.delay_s = delay_s
        self.exit_timeout_s = exit_timeout_s
        self.dropped = 0  # total since start, for the exit warning
        self.exported = 0
        self._drops_unrecorded = 0  # not yet written to the store's stats
        self._drop_lock = threading.Lock()
        self._failures = 0  # failed exports in a row; > 0 means we are in a failure episode
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        # Handed batches packed, the spans are let go before the wait for them to be stored.
        self._pack: Callable[[list[ReadableSpan]], Any] | None = None
        self._send: Callable[[Any], SpanExportResult] = exporter.export
        if isinstance(exporter, PackingExporter):
            self._pack, self._send = exporter.pack, exporter.export_packed
        self._deadline_exporter = exporter if isinstance(exporter, DeadlineExporter) else None
        self._store = exporter if isinstance(exporter, StoreExporter) else None
        self._unsent: tuple[Any, int] | None = None  # a batch (as sent) that failed, with its span count: next to go
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._in_flight = 0  # spans taken for the batch being exported now (guarded by ``_flight_lock``)
        self._flight_lock = threading.Lock()  # the batch's spans are counted by its export, or by closing: never both
        self._deadlines: tuple[float, float] | None = None  # once closing: (store by, count by)
        self._closer = threading.Lock()  # held by the one thread that closes
        self._closed = threading.Event()
        self._given_up = False  # closing ended with a batch still being exported: it was counted as dropped
        self._stopped = False
        # Set by ``hand_on``: where spans ending afterwards go (none: another processor of the provider sends them)
        self._heirs: tuple[SpanProcessor, ...] | None = None
        self._warned_late = False
        self._start_worker()
        ref = weakref.ref(self)

        def after_fork() -> None:
            if (processor := ref()) is not None:
                processor._after_fork()

        os.register_at_fork(after_in_child=after_fork)
        _exit.close_at_exit(self)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        if self._stopped:
            if self._heirs is None:
                self._drop_late(span)
            else:
                self._pass_on((span,))
            return
        queue = self._queue
        if len(queue) >= self.max_queue:
            settle((span,), exported=False)
            self._count_drops(1)
            time.sleep(0)  # overloaded: hand the GIL to the writer rather than starve it and drop even more
            return
        queue.append(span)
        if self._heirs is not None:  # handed on while we appended, perhaps after its last flush: pass the queue on
            self._pass_on(_take_all(queue))
        elif len(queue) == self.batch_size:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything queued so far, from the calling thread; ``False`` if it did not finish in time.

        Failed batches are retried until the deadline and then dropped (and counted).
        """
        deadline = time.monotonic() + timeout_millis / 1000
        if not self._export_lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
            return False
        try:
            with untraced():  # in a thread of the app's, perhaps in its span: the export is not the app's to trace
                if self._drain(deadline):
                    return True
                self._drop_queue(self._why_unstored("the flush deadline passed"))
                return False
        finally:
            self._export_lock.release()

    def shutdown(self) -> None:
        """Store what is queued within ``exit_timeout_s``; count and report what could not be. Idempotent."""
        _exit.close([self], time.monotonic())

    def _drain(self, deadline: float) -> bool:
        """Export the queue from this thread, which holds the export lock: ``True`` once it is empty, ``False`` if
        the deadline comes first, the store still failing or not."""
        while self._queue or self._unsent is not None:
            if time.monotonic() > deadline:
                return False
            if not self._export_batch() and time.monotonic() + self._backoff() > deadline:
                return False
            if self._failures:
                time.sleep(self._backoff())
        return True

    def _why_unstored(self, what: str) -> str:
        reason = self._last_error() if self._failures else None
        return f"{what} ({reason})" if reason else what

    def _last_error(self) -> str | None:
        return self._deadline_exporter.last_error if self._deadline_exporter is not None else None

    def begin_closing(self, began: float) -> None:
        """Give the exporter its deadline and wake the export thread, which goes on storing what is queued."""
        if self._deadlines is not None:
            return
        store_by = began + self.exit_timeout_s * (1 - RECORD_SHARE)
        self._deadlines = (store_by, began + self.exit_timeout_s)
        self._give_exporter_until(store_by)
        self._wake.set()

    def hand_on(self, heirs: Sequence[SpanProcessor]) -> None:
        """Close for a new set-up (``configure()`` again): what has ended is stored here, as at exit, and spans that
        end from now on, started before it, go to ``heirs`` (the new set-up's processors) instead of being lost.

        Give the heirs to one processor of a provider only: each of them sees every span.
        """
        if self._heirs is not None or self._deadlines is not None:
            return
        self._heirs = tuple(heirs)  # first: a span queued after this is passed on by its own thread
        self.shutdown()

    def _pass_on(self, spans: Sequence[ReadableSpan]) -> None:
        if not self._heirs:  # another processor of the provider passes the spans on
            settle(spans, exported=False)
        for span in spans:
            for heir in self._heirs or ():
                heir.on_end(span)

    def finish_closing(self) -> None:
        """Store what is left by the first deadline; stop; count what is still not stored; report; close the exporter.

        The export thread may be part way through a batch: it stops after it. If it is still writing at the second
        deadline (its write does not see ours: an exporter of someone else's, or one that waits for the store on
        its own), that batch is counted as dropped too, and the exporter is left open for the process to end with.
        """
        assert self._deadlines is not None
        store_by, count_by = self._deadlines
        if not self._closer.acquire(blocking=False):  # closed, or closing in another thread (two ways to end at once)
            self._closed.wait(_left(count_by))
            return
        held = self._export_lock.acquire(timeout=_left(store_by))
        try:
            if held:
                self._drain(store_by)
            self._stopped = True  # from here on the export thread takes no batch, and a span that ends is dropped
            held = held or self._export_lock.acquire(timeout=_left(count_by))
            lost = 0
            if self._heirs is not None:  # spans queued but not stored in time go to the new set-up
                self._pass_on(_take_all(self._queue))
            if not held:
                lost = self._give_up_on_export()
            lost += self._take_queue()
            self._count_drops(lost)
            if held:
                self._give_exporter_until(count_by)
                self._record_drops()
                self.exporter.shutdown()
            why = self._why_unstored(f"not delivered within {self.exit_timeout_s:g} s of the end") if lost else ""
            self._report(lost, why)
        finally:
            if held:
                self._export_lock.release()
            self._closed.set()

    def _give_up_on_export(self) -> int:
        """Closing can wait no longer for the batch being exported: count it as dropped, and have the export thread
        send nothing more. A write already under way may still finish: its spans are then stored and counted as
        dropped too, an over-count of at most one batch, never a loss uncounted."""
        with self._flight_lock:
            self._given_up = True
            return self._in_flight

    def _give_exporter_until(self, deadline: float) -> None:
        """An exporter that can (the SQLite one) gives up on a write that would end after ``deadline``, rather than
        wait out a locked store or a busy writer process."""
        if self._deadline_exporter is not None:
            self._deadline_exporter.set_deadline(deadline)

    def _report(self, lost: int, why: str) -> None:
        """One warning for the whole life of the processor: how many spans were dropped, why, and where they are
        counted."""
        if not self.dropped:
            return
        causes = [f"{lost} when it ended: {why}"] if lost else []
        if self.dropped > lost:
            causes.append(f"{self.dropped - lost} before: the export queue was full, or the destination kept failing")
        where = f"bound for {self.destination}"
        message = f"spanlite dropped {self.dropped} spans in this process, {where} ({'; '.join(causes)})"
        if self._store is not None:
            if self._drops_unrecorded:
                error = self._store.last_error or "the store could not be written in time"
                message += f"; {self._drops_unrecorded} of them are not counted in `spanlite stats` ({error})"
            else:
                message += "; see `spanlite stats`"
        logger.warning(message)

    def _drop_late(self, span: ReadableSpan) -> None:
        """A span that ended after the processor was shut down (by ``configure()``, or at exit: in a daemon thread,
        an ``atexit`` handler registered before spanlite was imported) is dropped, counted, and warned about once."""
        settle((span,), exported=False)
        self._count_drops(1)
        if not self._warned_late:
            self._warned_late = True
            logger.warning(
                "spanlite dropped a span that ended after it had shut down (a daemon thread or an atexit handler "
                "registered before spanlite was imported, or a pipeline that configure() replaced); any more are "
                "dropped too and not counted in `spanlite stats`"
            )

    def _start_worker(self) -> None:
        self._worker = start_thread(self._run, "spanlite-export")

    def _after_fork(self) -> None:
        # The child has the parent's queue but not its thread: start afresh so neither process exports twice. Its
        # locks may have been held by the parent's threads, which are not here to let go of them.
        self._queue.clear()
        self._unsent = None
        self._in_flight = 0
        self._export_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._flight_lock = threading.Lock()
        self._wake = threading.Event()
        if not self._stopped:
            self._deadlines = None
            self._closer = threading.Lock()
            self._closed = threading.Event()
            self._start_worker()

    def _run(self) -> None:
        on_idle = self._store.on_idle if self._store is not None else None  # e.g. deferred text indexing
        while not self._stopped:
            self._wake.wait(self._backoff() if self._failures else self.delay_s)
            self._wake.clear()
            with self._export_lock:
                while (self._queue or self._unsent is not None) and not self._stopped and self._export_batch():
                    pass
            while on_idle is not None and not (self._queue or self._unsent or self._deadlines) and _idle(on_idle):
                pass

    def _export_batch(self) -> bool:
        """Export one batch, the one that failed last or else the front of the queue; the caller holds the export lock.

        On failure the batch is kept, as it was sent, to be retried after a backoff, unless it has failed too often,
        or the exporter says it never will be stored (``last_error_permanent``): then it is dropped and counted.
        Returns whether the queue can go on being exported now.
        """
        with self._flight_lock:  # taken and counted as in flight at once, so closing counts every span once
            if self._given_up:
                return False
            unsent, self._unsent = self._unsent, None
            spans = [] if unsent is not None else _take(self._queue, self.batch_size)
            self._in_flight = unsent[1] if unsent is not None else len(spans)
        batch, count = unsent if unsent is not None else self._prepare(spans)
        del spans  # packed, the batch holds no span: they are let go before the wait for them to be stored
        with self._flight_lock:
            sendable = batch is not None and not self._given_up
        result = _export(self._send, batch, self.exporter) if sendable else SpanExportResult.FAILURE
        with self._flight_lock:
            if self._given_up:  # closing could not wait for this batch any longer, and counted it as dropped
                return False
            self._in_flight = 0
        if result is SpanExportResult.SUCCESS:
            self.exported += count
            if self._failures:
                logger.warning("spanlite is writing spans to %s again after %d failed attempts", self.destination,
                               self._failures)  # fmt: skip
                self._failures = 0
            if self._drops_unrecorded:
                self._record_drops()
            return True
        reason = self._last_error() or "the exporter failed"
        if batch is None or (self._store is not None and self._store.last_error_permanent):  # a retry would fail too
            self._count_drops(count)
            logger.warning("spanlite dropped %d spans that %s cannot take (%s)", count, self.destination, reason)
            return True
        self._failures += 1
        if self._failures == 1 and self._deadlines is None:  # closing says why it could not store them, once
            logger.warning("spanlite cannot write spans to %s (%s); keeping them and retrying", self.destination,
                           reason)  # fmt: skip
        if self._failures >= MAX_ATTEMPTS:
            self._count_drops(count)
        else:
            self._unsent = (batch, count)
        return False

    def _prepare(self, spans: list[ReadableSpan]) -> tuple[Any, int]:
        """``spans`` made ready to send, packed if the exporter packs (``None``: it could not), and how many."""
        settle(spans, exported=True)  # what is read late (a model call's response) is read now, on this thread
        if self._pack is None:
            return spans, len(spans)
        try:
            return self._pack(spans), len(spans)
        except Exception:  # an exporter that breaks its contract must not kill the worker
            logger.exception("spanlite exporter %r could not pack %d spans", self.exporter, len(spans))
            return None, len(spans)

    def _backoff(self) -> float:
        doubling: int = 2 ** max(self._failures - 1, 0)  # an int power is typed as Any (a negative one is a float)
        return min(self.delay_s * doubling, 2.0)

    def _drop_queue(self, why: str) -> None:
        n = self._take_queue()
        self._count_drops(n)
        logger.warning("spanlite dropped %d queued spans bound for %s: %s", n, self.destination, why)

    def _take_queue(self) -> int:
        """Empty the queue and let go of the failed batch, if any: how many spans that was."""
        dropped = _take_all(self._queue)
        settle(dropped, exported=False)
        n = len(dropped) + (self._unsent[1] if self._unsent is not None else 0)
        self._unsent = None
        return n

    def _count_drops(self, n: int) -> None:
        with self._drop_lock:
            self.dropped += n
            self._drops_unrecorded += n

    def _record_drops(self) -> None:
        """Tell an exporter that keeps stats (the SQLite one) how many spans never reached it."""
        if self._store is None:
            return
        with self._drop_lock:
            n, self._drops_unrecorded = self._drops_unrecorded, 0
        if not self._store.record_dropped(n):
            with self._drop_lock:
                self._drops_unrecorded += n


def _take(queue: collections.deque[ReadableSpan], n: int) -> list[ReadableSpan]:
    """Up to ``n`` spans from the front of ``queue``; fewer if another thread empties it meanwhile (``hand_on``)."""
    taken: list[ReadableSpan] = []
    try:
        while len(taken) < n:
            taken.append(queue.popleft())
    except IndexError:
        pass
    return taken


def _take_all(queue: collections.deque[ReadableSpan]) -> list[ReadableSpan]:
    """Empty ``queue``, one span at a time: a span that another thread takes or queues meanwhile is taken once."""
    taken = []
    try:
        while True:
            taken.append(queue.popleft())
    except IndexError:
        return taken


def _export(send: Callable[[Any], SpanExportResult], batch: Any, exporter: SpanExporter) -> SpanExportResult:
    try:
        return send(batch)
    except Exception:  # an exporter that breaks its contract must not kill the worker
        logger.exception("spanlite exporter %r raised", exporter)
        return SpanExportResult.FAILURE


def _idle(on_idle: Callable[[], bool]) -> bool:
    try:
        return on_idle()
    except Exception:  # idle work is optional; it must not kill the worker
        logger.exception("spanlite idle work failed")
        return False


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)
