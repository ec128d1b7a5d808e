"""The tracer every spanlite span comes from, installed by ``spanlite.configure``."""

from __future__ import annotations

import threading

from opentelemetry import trace as otel_trace

_tracer: otel_trace.Tracer | None = None
_lock = threading.Lock()


def tracer() -> otel_trace.Tracer:
    """Our tracer; the first call without a prior ``configure()`` sets up the default SQLite store."""
    current = _tracer
    if current is not None:
        return current
    with _lock:
        if _tracer is None:
            from spanlite._config import configure_default  # deferred: configuring pulls in the store

            configure_default()
    assert _tracer is not None
    return _tracer


def install(provider: otel_trace.TracerProvider) -> None:
    global _tracer
    _tracer = provider.get_tracer("spanlite")


def uninstall() -> None:
    global _tracer
    _tracer = None
