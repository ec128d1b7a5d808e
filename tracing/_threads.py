"""spanlite's background threads leave the signals that end a process to the app's own threads.

The kernel hands a signal sent to the process to any one thread that does not block it. Python runs its handler
(SIGTERM's, see ``spanlite._signals``; SIGINT's ``KeyboardInterrupt``) on the main thread, and only once that thread
runs Python again: a signal that lands on one of spanlite's threads while the main thread waits in a blocking call
(a multiprocessing pool worker waiting for its next task, say) is never handled, and the process never ends.
spanlite's threads block SIGINT and SIGTERM, so they go to a thread of the app's, whose blocking call they interrupt.

Nor do they trace their own work. Another instrumentation on the provider spanlite exports from (``requests``,
``sqlite3``) would make a span of each request an exporter sends and each write of the store's, and those spans
would be exported in turn, one round after another for as long as the app runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import context as otel_context

_ENDING = {signal.SIGINT, signal.SIGTERM}


def start_thread(target: Callable[..., object], name: str, *args: Any) -> threading.Thread:
    """Start a daemon thread running ``target(*args)`` untraced, with SIGINT and SIGTERM blocked from its first
    instruction (a thread starts with the signal mask of the thread that starts it)."""
    thread = threading.Thread(target=_run_untraced, args=(target, *args), name=name, daemon=True)
    with ending_signals_blocked():
        thread.start()
    return thread


@contextlib.contextmanager
def ending_signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in this thread for a moment, where the platform has signal masks: one sent
    meanwhile waits, and is handled as the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _ENDING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """Instrumentation suppressed in this thread for a moment (OTel's suppress-instrumentation key, which
    instrumentations check before they make a span): for exporting from a thread of the app's (a flush, the end)."""
    token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        otel_context.detach(token)


def _run_untraced(target: Callable[..., object], *args: Any) -> None:
    with untraced():
        target(*args)
