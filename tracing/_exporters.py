"""What ``QueueProcessor`` asks of its exporter beyond OTel's ``SpanExporter``: each part optional.

Any ``SpanExporter`` will do. One that can do more says so by having these members (it may also subclass the
protocol, so that a type checker holds it to the signatures): the processor checks once, when it is made.

- ``PackingExporter``: hands a batch over packed, so that the spans are let go before the wait for them to be stored.
- ``DeadlineExporter``: gives up on a batch at a deadline as the process ends, and says why an export failed.
- ``StoreExporter``: all of that, into a store that counts dropped spans and has work to do while idle (the SQLite
  exporter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult


@runtime_checkable
class PackingExporter(Protocol):
    """Held until stored, a batch's spans would outlive two garbage collections and be promoted to the oldest
    generation, whose full collections walk the whole app; packed (plain bytes, say), they are let go first."""

    def pack(self, spans: Sequence[ReadableSpan]) -> Any:
        """``spans`` as ``export_packed`` takes them; ``None`` if they cannot be packed, which a retry would not
        change."""

    def export_packed(self, packed: Any) -> SpanExportResult:
        """Export a batch from ``pack``; a failed one is sent again as it was."""


@runtime_checkable
class DeadlineExporter(Protocol):
    """An exporter that the end of the process can hurry, and that says why it failed, for the processor's
    warnings."""

    last_error: str | None  # why the last export failed

    def set_deadline(self, deadline: float | None) -> None:
        """Give up on a batch, and on ``shutdown``, at ``deadline`` (``time.monotonic()``); ``None``: never."""


@runtime_checkable
class StoreExporter(PackingExporter, DeadlineExporter, Protocol):
    """An exporter into a store: the processor counts the spans it had to drop there, and lets it work while idle."""

    last_error_permanent: bool  # the last failure was the batch's own: the same spans would fail again

    def record_dropped(self, count: int) -> bool:
        """Add ``count`` to the store's count of dropped spans; ``False`` if it could not now (asked again later)."""

    def on_idle(self) -> bool:
        """Do some deferred work while no spans wait; ``True`` if more remains."""
