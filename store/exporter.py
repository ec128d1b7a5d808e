"""``SQLiteSpanExporter``: the OTel exporter that writes spans into a spanlite store."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._db import StoreError, connect
from spanlite.tracing import redaction

from ._rows import readable_span_row, redact_row
from ._text_index import CHUNK
from ._writer import index_text, write_spans

logger = logging.getLogger("spanlite")



class SQLiteSpanExporter(SpanExporter):
    """Write each batch of spans to ``path`` in one transaction. Never raises: failures return ``FAILURE``.

    ``redact`` sees every text column (inputs, outputs, attributes, events) before it is written; by default it
    removes credentials (``spanlite.tracing.redaction.secrets``).

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(BatchSpanProcessor(SQLiteSpanExporter("traces.db")))  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, redact: redaction.Redactor | None = redaction.secrets) -> None:
        self.path = Path(path)
        self.redact = redact
        self.last_error: str | None = None  # why the last export failed, for the processor's one warning
        self._db = connect(self.path)  # fail here, loudly, for a bad path or a newer schema
        self._inode = _inode(self.path)
        self._lock = threading.Lock()
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            rows = [readable_span_row(span) for span in spans]
            if self.redact is not None:
                rows = [redact_row(row, self.redact) for row in rows]
            with self._lock:
                self._reopen_if_replaced()
                write_spans(self._db, rows)
        except (sqlite3.Error, StoreError, OSError) as exc:
            self.last_error = f"{self.path}: {exc}"
            logger.debug("spanlite could not write %d spans to %s: %s", len(spans), self.path, exc)
            return SpanExportResult.FAILURE
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("spanlite could not convert or write %d spans", len(spans))
            return SpanExportResult.FAILURE
        self.last_error = None
        return SpanExportResult.SUCCESS

    def _reopen_if_replaced(self) -> None:
        """A store file deleted (or swapped) under a running app is recreated, not written into the void."""
        inode = _inode(self.path)
        if inode == self._inode:
            return
        logger.warning("spanlite store %s was deleted or replaced; writing to a new one there", self.path)
        self._db.close()
        self._db = connect(self.path)
        self._inode = _inode(self.path)

    def record_dropped(self, count: int) -> bool:
        """Add ``count`` to the store's ``dropped_spans`` counter so drops show up in ``stats()``."""
        if self._closed:
            return False
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO counters (name, value) VALUES ('dropped_spans', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    [count],
                )
        except sqlite3.Error:
            return False
        return True

    def on_idle(self) -> bool:
        """Index some not-yet-indexed text while no spans wait; ``True`` if more remains."""
        if self._closed:
            return False
        try:
            with self._lock:
                return index_text(self._db) == CHUNK
        except sqlite3.Error as exc:
            logger.debug("spanlite could not index text now: %s", exc)
            return False

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is committed before it returns

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._db.close()



def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
