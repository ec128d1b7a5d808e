"""Requests the OTLP receiver refused: one WARNING per reason now and then, and a count per reason in the store.

``spanlite serve`` shows warnings, not INFO, so a sender whose every batch is refused (too large, say) is seen at
once; a flood of them (an overloaded receiver answers hundreds of 429s a second) is told once per ``WARN_EVERY_S``
per reason, with how many were not told. Counts go into the store's ``counters`` (``rejected:<reason>``), which
``spanlite stats`` reads, from a thread of their own every ``FLUSH_EVERY_S``: a refused request never waits for
the store, which may be the very thing that is unavailable.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from spanlite.store._schema import REJECTED
from spanlite.tracing._threads import start_thread

logger = logging.getLogger("spanlite")

WARN_EVERY_S = 10.0
FLUSH_EVERY_S = 1.0


class _Counters(Protocol):
    def add_counts(self, counts: dict[str, int]) -> bool: ...


class Rejections:
    """Tell and count refused requests; ``note`` is safe from any number of request threads."""

    def __init__(self, store: _Counters) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}  # counts not yet in the store
        self._last_warned: dict[str, float] = {}
        self._untold: dict[str, int] = {}  # refused since the last warning of their reason
        self._stop = threading.Event()
        self._flusher = start_thread(self._flush_every, "spanlite-receiver-rejections")

    def note(self, reason: str, status: int, message: str, client: str) -> None:
        """Count one refused request and warn of it, unless its reason was warned of less than WARN_EVERY_S ago."""
        now = time.monotonic()
        with self._lock:
            self._pending[reason] = self._pending.get(reason, 0) + 1
            last = self._last_warned.get(reason)
            if last is not None and now - last < WARN_EVERY_S:
                self._untold[reason] = self._untold.get(reason, 0) + 1
                return
            self._last_warned[reason] = now
            untold = self._untold.pop(reason, 0)
        more = f" ({untold} more {reason} since the last warning)" if untold else ""
        logger.warning("spanlite receiver: %d %s from %s: %s%s", status, reason, client, message, more)

    def close(self) -> None:
        """Stop the thread and write the counts left, once more."""
        self._stop.set()
        self._flusher.join()
        self._flush()

    def _flush_every(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_S):
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            counts, self._pending = self._pending, {}
        if not counts or self._store.add_counts({REJECTED + reason: n for reason, n in counts.items()}):
            return
        with self._lock:  # the store could not take them now: kept for the next time
            for reason, n in counts.items():
                self._pending[reason] = self._pending.get(reason, 0) + n
