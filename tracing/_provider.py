"""The set-up in force, as the layers read it: the tracer every spanlite span comes from, and whether model calls
record message contents. ``spanlite.configure`` installs it.

The set-up sits above this layer: ``spanlite._config`` registers its default with ``set_default`` as it is imported
(importing any part of spanlite imports it), so that a span started before any ``configure()`` still has a store to
go to, and nothing here imports it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from opentelemetry import trace as otel_trace

_tracer: otel_trace.Tracer | None = None
_installed: otel_trace.TracerProvider | None = None
_capture_content = True
_default: Callable[[], None] | None = None
_lock = threading.Lock()


def tracer() -> otel_trace.Tracer:
    """Our tracer; the first call without a prior ``configure()`` installs the default set-up (the SQLite store)."""
    current = _tracer
    if current is not None:
        return current
    with _lock:
        if _tracer is None:
            assert _default is not None, "spanlite._config registers the default set-up as spanlite is imported"
            _default()
    assert _tracer is not None
    return _tracer


def capture_content() -> bool:
    """Whether model calls record message contents: ``configure(capture_content=False)`` turns that off."""
    return _capture_content


def set_default(install_default: Callable[[], None]) -> None:
    """Have ``install_default`` install the set-up (with ``install``) when a span starts before any was installed."""
    global _default
    _default = install_default


def install(provider: otel_trace.TracerProvider, *, capture_content: bool = True) -> None:
    global _tracer, _installed, _capture_content
    _capture_content = capture_content
    _tracer = provider.get_tracer("spanlite")
    _installed = provider


def uninstall() -> None:
    global _tracer, _installed, _capture_content
    _tracer = None
    _installed = None
    _capture_content = True


def flush(timeout_s: float = 30.0) -> bool:
    """Send every span ended so far where the set-up in force sends spans, for layers that read them back (an
    evaluation scoring a trace it just made); ``False`` if that did not finish within ``timeout_s``."""
    force_flush = getattr(_installed, "force_flush", None)  # the API's provider has none; the SDK's has
    return True if force_flush is None else bool(force_flush(int(timeout_s * 1000)))
