"""A batching span processor that never blocks the caller and accounts for every span.

The OTel SDK's ``BatchSpanProcessor`` drops spans silently when its queue is full and gives up on a batch the
first time its exporter fails. spanlite keeps a failed batch and retries it with backoff (a store locked by
another process, a full disk that gets space back); only when the queue is full or the failures go on does it
drop, and every dropped span is counted, written to the store's stats when it can be, and warned about once.
Ending a span costs one ``deque.append``.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _settings
from ._late import settle

logger = logging.getLogger("spanlite")

MAX_QUEUE = _settings.count("SPANLITE_MAX_QUEUE", 20_000)
MAX_ATTEMPTS = 6  # a batch is dropped after this many failed exports in a row (about 6 s of backoff)


class QueueProcessor(SpanProcessor):
    """Queue ended spans in memory and export them in batches from one background thread.

    ``max_queue`` bounds memory; ``delay_s`` bounds how long an ended span waits before it is readable.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue: int = MAX_QUEUE,
        batch_size: int = 512,
        delay_s: float = 0.2,
        exit_timeout_s: float = 5.0,
    ) -> None:
        self.exporter = exporter
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
        # An exporter that can pack a batch (the SQLite one: plain bytes) is handed it packed, so the spans themselves
        # are let go before the wait for them to be stored: held through it, they would outlive two garbage
        # collections and be promoted to the oldest generation, whose full collections walk the whole app.
        pack, send_packed = getattr(exporter, "pack", None), getattr(exporter, "export_packed", None)
        packs = callable(pack) and callable(send_packed)
        self._pack: Callable[[list[ReadableSpan]], Any] | None = pack if packs else None
        self._send: Callable[[Any], SpanExportResult] = send_packed if packs else exporter.export
        self._unsent: tuple[Any, int] | None = None  # a batch (as sent) that failed, with its span count: next to go
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._stopped = False
        self._heirs: tuple[SpanProcessor, ...] = ()  # where spans ending after ``hand_on`` go
        self._start_worker()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (p := ref()) and p._after_fork())
        atexit.register(_shutdown_at_exit, ref)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        if self._stopped:
            self._pass_on((span,))
            return
        queue = self._queue
        if len(queue) >= self.max_queue:
            settle((span,), exported=False)
            self._count_drops(1)
            time.sleep(0)  # overloaded: hand the GIL to the writer rather than starve it and drop even more
            return
        queue.append(span)
        if self._heirs:  # handed on while we appended, perhaps after its last flush: pass the queue on ourselves
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
            while self._queue or self._unsent is not None:
                if time.monotonic() > deadline:
                    self._drop_queue("flush timed out")
                    return False
                if not self._export_batch() and time.monotonic() + self._backoff() > deadline:
                    self._drop_queue("the store stayed unwritable until the flush deadline")
                    return False
                if self._failures:
                    time.sleep(self._backoff())
            return True
        finally:
            self._export_lock.release()

    def shutdown(self) -> None:
        if self._stopped:
            return
        self.force_flush(int(self.exit_timeout_s * 1000))
        self._stopped = True
        self._wake.set()
        self._close_exporter()

    def hand_on(self, heirs: Sequence[SpanProcessor]) -> None:
        """Shut down for a new set-up (``configure()`` again): spans that end from now on, started before it,
        go to ``heirs`` (the new set-up's processors) instead of being lost; ended ones are flushed here first.

        Give the heirs to one processor of a provider only: each of them sees every span.
        """
        if self._stopped:
            return
        self._heirs = tuple(heirs)  # first: a span queued after this is passed on by its own thread
        self._stopped = True  # the worker stops after its batch; this thread exports the rest
        self._wake.set()
        self.force_flush(int(self.exit_timeout_s * 1000))
        self._pass_on(_take_all(self._queue))  # any the flush could not start on in time go on too
        if self._drops_unrecorded:
            self._record_drops()  # into the stats of the store they were meant for, while it is open
        self._close_exporter()

    def _pass_on(self, spans: Sequence[ReadableSpan]) -> None:
        if not self._heirs:  # shut down, or another processor of the provider passes the spans on
            settle(spans, exported=False)
        for span in spans:
            for heir in self._heirs:
                heir.on_end(span)

    def _close_exporter(self) -> None:
        self.exporter.shutdown()
        if self.dropped:
            logger.warning(
                "spanlite dropped %d spans in this process (export queue full or store unwritable); "
                "see `spanlite stats`",
                self.dropped,
            )

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._run, name="spanlite-export", daemon=True)
        self._worker.start()

    def _after_fork(self) -> None:
        # The child has the parent's queue but not its thread: start afresh so neither process exports twice.
        self._queue.clear()
        self._unsent = None
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._start_worker()

    def _run(self) -> None:
        on_idle = getattr(self.exporter, "on_idle", None)  # e.g. the SQLite exporter's deferred text indexing
        while not self._stopped:
            self._wake.wait(self._backoff() if self._failures else self.delay_s)
            self._wake.clear()
            with self._export_lock:
                while (self._queue or self._unsent is not None) and not self._stopped and self._export_batch():
                    pass
            while on_idle is not None and not (self._queue or self._unsent or self._stopped) and _idle(on_idle):
                pass

    def _export_batch(self) -> bool:
        """Export one batch, the one that failed last or else the front of the queue; the caller holds the export lock.

        On failure the batch is kept, as it was sent, to be retried after a backoff, unless it has failed too often,
        or the exporter says it never will be stored (``last_error_permanent``): then it is dropped and counted.
        Returns whether the queue can go on being exported now.
        """
        if self._unsent is not None:
            batch, count = self._unsent
            self._unsent = None
        else:
            batch, count = self._next_batch()
        result = SpanExportResult.FAILURE if batch is None else _export(self._send, batch, self.exporter)
        if result is SpanExportResult.SUCCESS:
            self.exported += count
            if self._failures:
                logger.warning("spanlite is writing spans again after %d failed attempts", self._failures)
                self._failures = 0
            if self._drops_unrecorded:
                self._record_drops()
            return True
        reason = getattr(self.exporter, "last_error", None) or "the exporter failed"
        if batch is None or getattr(self.exporter, "last_error_permanent", False):  # a retry would fail the same
            self._count_drops(count)
            logger.warning("spanlite dropped %d spans it cannot store (%s)", count, reason)
            return True
        self._failures += 1
        if self._failures == 1:
            logger.warning("spanlite cannot write spans (%s); keeping them and retrying", reason)
        if self._failures >= MAX_ATTEMPTS:
            self._count_drops(count)
        else:
            self._unsent = (batch, count)
        return False

    def _next_batch(self) -> tuple[Any, int]:
        """Up to ``batch_size`` spans from the front of the queue, packed if the exporter packs (``None``: it could
        not), and how many."""
        spans: list[ReadableSpan] = []
        queue = self._queue
        try:
            while len(spans) < self.batch_size:
                spans.append(queue.popleft())
        except IndexError:  # empty, perhaps emptied meanwhile by a thread passing spans on (``hand_on``)
            pass
        settle(spans, exported=True)  # what is read late (a model call's response) is read now, on this thread
        if self._pack is None:
            return spans, len(spans)
        try:
            return self._pack(spans), len(spans)
        except Exception:  # an exporter that breaks its contract must not kill the worker
            logger.exception("spanlite exporter %r could not pack %d spans", self.exporter, len(spans))
            return None, len(spans)

    def _backoff(self) -> float:
        return min(self.delay_s * 2 ** max(self._failures - 1, 0), 2.0)

    def _drop_queue(self, why: str) -> None:
        dropped = _take_all(self._queue)
        settle(dropped, exported=False)
        n = len(dropped) + (self._unsent[1] if self._unsent is not None else 0)
        self._unsent = None
        self._count_drops(n)
        logger.warning("spanlite dropped %d queued spans: %s", n, why)

    def _count_drops(self, n: int) -> None:
        with self._drop_lock:
            self.dropped += n
            self._drops_unrecorded += n

    def _record_drops(self) -> None:
        """Tell an exporter that keeps stats (the SQLite one) how many spans never reached it."""
        record = getattr(self.exporter, "record_dropped", None)
        if record is None:
            return
        with self._drop_lock:
            n, self._drops_unrecorded = self._drops_unrecorded, 0
        if not record(n):
            with self._drop_lock:
                self._drops_unrecorded += n


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


def _shutdown_at_exit(ref: weakref.ref[QueueProcessor]) -> None:
    processor = ref()
    if processor is not None:
        processor.shutdown()
