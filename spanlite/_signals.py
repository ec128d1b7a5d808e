"""SIGTERM ends a process without running ``atexit``: spanlite stores what is queued first, then ends the process
as the signal would have.

The handler runs on the main thread between two bytecodes of whatever that thread was doing, which may be
spanlite's own writing (``spanlite.flush()``, or closing at exit) with its locks held: waiting there for those
locks would wait for ever. So the closing runs on a thread of its own (a bare one: starting a ``threading.Thread``
takes a lock of the threading module's), which ends the process once it is done. The main thread waits for it,
the app paused, unless the signal interrupted code that holds locks the closing needs (spanlite's export, logging,
threading): then it returns to finish that, and the closing thread takes over once they are let go. Either way the
process ends by the exit deadline (``EXIT_TIMEOUT_S``), and a second SIGTERM ends it at once.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
from types import FrameType

from spanlite.tracing import _exit
from spanlite.tracing._threads import ending_signals_blocked

# Modules whose code may hold a lock that closing takes: spanlite's export, and the standard library's that it uses.
_HOLDING_LOCKS = (
    "spanlite.tracing._processor", "spanlite.tracing._exit", "spanlite.tracing._late", "spanlite.store.", "logging",
    "threading",
)  # fmt: skip


def install() -> None:
    """Store what is queued at SIGTERM; only in the main thread (where Python allows it), and only where the app
    has not set a handler of its own."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)
    closed = _thread.allocate_lock()
    closed.acquire()
    try:
        with ending_signals_blocked():  # so that the signal this thread sends goes to the app's (see _threads)
            _thread.start_new_thread(_close_and_end, (signum, closed))
    except RuntimeError:  # no new thread as the interpreter shuts down: spanlite has closed already
        os.kill(os.getpid(), signum)
        return
    if not _holds_locks(frame):
        closed.acquire(timeout=_exit.EXIT_TIMEOUT_S)


def _close_and_end(signum: int, closed: _thread.LockType) -> None:
    try:
        _exit.close_all()
    finally:
        os.kill(os.getpid(), signum)  # the default action again: the process ends here
        closed.release()


def _holds_locks(frame: FrameType | None) -> bool:
    """Whether the interrupted thread is inside code that may hold a lock that closing takes."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith(_HOLDING_LOCKS):
            return True
        frame = frame.f_back
    return False
