"""``configure``: where spans go, how many are kept, and what is recorded."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Callable

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from spanlite.store import SQLiteSpanExporter, TraceStore, default_db_path
from spanlite.tracing import _provider
from spanlite.tracing._processor import QueueProcessor


@dataclasses.dataclass(frozen=True)
class Settings:
    db: Path
    otlp_endpoint: str | None = None
    sample_rate: float = 1.0
    redact: Callable[[str], str] | None = None
    capture_content: bool = True
    use_global_provider: bool = False


@dataclasses.dataclass
class _Pipeline:
    settings: Settings
    provider: TracerProvider
    processors: list[QueueProcessor]
    store: TraceStore | None = None  # opened on first read


_pipeline: _Pipeline | None = None
_lock = threading.RLock()


def configure(
    *,
    db: str | Path | None = None,
    otlp_endpoint: str | None = None,
    sample_rate: float = 1.0,
    redact: Callable[[str], str] | None = None,
    capture_content: bool = True,
    use_global_provider: bool = False,
) -> Settings:
    """Set where spans go; call once at start-up (calling again flushes and replaces the previous set-up).

    ``db``: the SQLite store (default ``$SPANLITE_DB`` or ``~/.local/share/spanlite/traces.db``).
    ``sample_rate``: the fraction of traces kept, decided at the root so traces are whole.
    ``redact``: called on every text field before it is written. ``capture_content=False``: autolog records
    model calls without message contents. ``use_global_provider``: add our processor to the global OTel
    ``TracerProvider`` (installing one if there is none) instead of keeping our own.

    >>> import spanlite
    >>> spanlite.configure(db="app-traces.db", sample_rate=0.5)  # doctest: +SKIP
    """
    if not 0.0 <= sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be between 0 and 1, not {sample_rate}")
    settings = Settings(
        db=Path(db).expanduser() if db is not None else default_db_path(),
        otlp_endpoint=otlp_endpoint,
        sample_rate=sample_rate,
        redact=redact,
        capture_content=capture_content,
        use_global_provider=use_global_provider,
    )
    exporter = SQLiteSpanExporter(settings.db, redact=redact)  # raises here for a bad or newer store
    with _lock:
        _shutdown()
        processors = [QueueProcessor(exporter)]
        provider = _provider_for(settings)
        for processor in processors:
            provider.add_span_processor(processor)
        global _pipeline
        _pipeline = _Pipeline(settings, provider, processors)
        _provider.install(provider)
    return settings


def settings() -> Settings:
    """The settings in force, configuring the defaults on first use."""
    if _pipeline is None:
        _provider.tracer()
    assert _pipeline is not None
    return _pipeline.settings


def flush(timeout_s: float = 30.0) -> bool:
    """Write every span ended so far to the store; ``False`` if that did not finish within ``timeout_s``."""
    pipeline = _pipeline
    if pipeline is None:
        return True
    return all(p.force_flush(int(timeout_s * 1000)) for p in pipeline.processors)


def store() -> TraceStore:
    """The store that ``configure`` points at, for reading."""
    settings()
    with _lock:
        assert _pipeline is not None
        if _pipeline.store is None:
            _pipeline.store = TraceStore(_pipeline.settings.db)
        return _pipeline.store


def _provider_for(settings: Settings) -> TracerProvider:
    if settings.use_global_provider:
        current = otel_trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current
        provider = _new_provider(settings)
        otel_trace.set_tracer_provider(provider)
        return provider
    return _new_provider(settings)


def _new_provider(settings: Settings) -> TracerProvider:
    sampler = ParentBased(TraceIdRatioBased(settings.sample_rate))
    return TracerProvider(sampler=sampler, resource=Resource.create())


def _shutdown() -> None:
    global _pipeline
    if _pipeline is None:
        return
    for processor in _pipeline.processors:
        processor.shutdown()
    if _pipeline.store is not None:
        _pipeline.store.close()
    _provider.uninstall()
    _pipeline = None
