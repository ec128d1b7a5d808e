"""Where the OTLP receiver's spans are written: a writer child process, so SQLite's work runs on another core.

HTTP and protobuf decoding stay in the receiver's process. Each request's spans go to a ``_writer_process`` child
packed as the app's own exporter packs them (``_rows.PackedSpan``), and the child answers once they are committed.
While it works, the receiver decodes the next requests; without a child (it could not start, or it died), spans
are written in the receiver's process, as the exporter does.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from opentelemetry.trace import StatusCode

from spanlite.tracing import redaction

from ._rows import PackedSpan
from .exporter import SQLiteSpanExporter

logger = logging.getLogger("spanlite")

_STATUS_CODES = {code.name: code.value for code in StatusCode}  # packed spans carry the code
_REDACT = redaction.secrets  # credentials are never stored, whoever sends them


class SpanSink:
    """One store's writer for the receiver; ``write`` is safe from any number of request threads."""

    def __init__(self, path: Path) -> None:
        self._exporter = SQLiteSpanExporter(path, redact=_REDACT, writer="process")  # a bad store fails here
        self._lock = threading.Lock()  # one request at a time to the child, whose pipe carries one
        self._exporter.write_packed([])  # starts the child now rather than on the first request
        if self._exporter.writer_pid is None:
            logger.warning("spanlite receiver: no writer process; writing in the receiver's process")

    @property
    def writer_pid(self) -> int | None:
        """The writer child's process id while one writes, else ``None``."""
        return self._exporter.writer_pid

    def write(self, packed: list[PackedSpan]) -> str | None:
        """Store ``packed`` in one transaction: ``None`` once committed, else why the store could not take them."""
        with self._lock:
            return None if self._exporter.write_packed(packed) else self._exporter.last_error or "write failed"

    def close(self) -> None:
        """Let the child finish its last write and exit, then close the store."""
        with self._lock:
            self._exporter.shutdown()


def pack(span: dict[str, Any]) -> PackedSpan:
    """A decoded span (``_otlp``'s neutral dict) as the writer takes it."""
    parent_id = span["parent_id"]
    events = [(e["name"], e["time_ns"], e["attributes"]) for e in span["events"]]
    return (
        int(span["trace_id"], 16),
        int(span["span_id"], 16),
        int(parent_id, 16) if parent_id is not None else None,
        span["parent_is_remote"],
        span["name"],
        span["start_ns"],
        span["end_ns"],
        _STATUS_CODES[span["status"]],
        span["status_message"],
        span["attributes"],
        events or None,
        span["service_name"],
    )
