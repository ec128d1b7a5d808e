"""Where the OTLP receiver's spans are written: a writer child process, so SQLite's work runs on another core.

HTTP and protobuf decoding stay in the receiver's process, and so do building each request's rows and redacting
them: the child, which would otherwise be the bottleneck, only stores them and answers once they are committed.
Request threads send as soon as their rows are ready, so the child always has the next request waiting in its pipe
while the receiver decodes more; without a child (it could not start, or it died), rows are written in the
receiver's process, as the exporter does.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from spanlite.store._rows import decoded_span_row, redact_rows
from spanlite.store._store_writer import WriteFailure
from spanlite.store.exporter import SQLiteSpanExporter
from spanlite.store.prices import PriceTable
from spanlite.tracing import redaction

logger = logging.getLogger("spanlite")

_REDACT = redaction.secrets  # credentials are never stored, whoever sends them


class SpanSink:
    """One store's writer for the receiver; ``write`` is safe from any number of request threads."""

    def __init__(self, path: Path, locked_wait_s: float, prices: PriceTable | None = None) -> None:
        # a bad store fails here; ``prices``: what each received model call's cost is reckoned by, in the writer
        self._exporter = SQLiteSpanExporter(path, redact=_REDACT, writer="process", prices=prices)
        self._locked_wait_s = locked_wait_s
        self._exporter.write_rows([])  # starts the child now rather than on the first request
        if self._exporter.writer_pid is None:
            logger.warning("spanlite receiver: no writer process; writing in the receiver's process")

    @property
    def writer_pid(self) -> int | None:
        """The writer child's process id while one writes, else ``None``."""
        return self._exporter.writer_pid

    def write(self, spans: list[dict[str, Any]]) -> WriteFailure | None:
        """Store decoded spans (``_decode``) in one transaction: ``None`` once committed, else why they were not.

        A store that another connection holds locked is waited for ``locked_wait_s`` from now, and no longer: the
        sender waits for the answer, and so would each request in line behind this one, one after the other.
        """
        rows = redact_rows([decoded_span_row(span) for span in spans], _REDACT)
        return self._exporter.store_rows(rows, time.monotonic() + self._locked_wait_s)

    def add_counts(self, counts: dict[str, int]) -> bool:
        """Add to the store's named counters; ``False`` if the store could not take them now."""
        return self._exporter.add_counts(counts, time.monotonic() + self._locked_wait_s)

    def close(self) -> None:
        """Let the child finish the requests it has and exit, then close the store."""
        self._exporter.shutdown()
