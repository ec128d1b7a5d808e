"""SIGTERM ends a process without running ``atexit``: spanlite stores what is queued first, then ends the process
as the signal would have.

The handler runs on the main thread between two bytecodes of whatever that thread was doing, which may be
spanlite's own writing (``spanlite.flush()``, or closing at exit) with its locks held: waiting there for those
locks would wait for ever. So the closing runs on a thread of its own (a bare one: starting a ``threading.Thread``
takes a lock of the threading module's), which ends the process once it is done. The main thread waits for it,
the app paused, unless the signal interrupted code that holds locks the closing needs (spanlite's export, logging,
threading): then it returns to finish that, and the closing thread takes over once they are let go. Either way the
process ends by the exit deadline (``EXIT_TIMEOUT_S``), and a second SIGTERM ends it at once.

Python's C-level handler only marks the signal for the main thread, and a mark that comes just before the main
thread enters a blocking wait in C is seen only once something else interrupts that wait: a multiprocessing pool
worker, SIGTERMed by ``Pool.terminate`` as it waits for the task queue's semaphore, waited for ever. So a thread of
spanlite's watches the signals arrive (``signal.set_wakeup_fd``, where the app has not taken it) and sends SIGTERM
again, every ``RESEND_S``, until the handler has run.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from types import FrameType

from spanlite.tracing import _exit
from spanlite.tracing._threads import ending_signals_blocked, start_thread

RESEND_S = 0.1

# Modules whose code may hold a lock that closing takes: spanlite's export, and the standard library's that it uses.
_HOLDING_LOCKS = (
    "spanlite.tracing._processor", "spanlite.tracing._exit", "spanlite.tracing._late", "spanlite.store.", "logging",
    "threading",
)  # fmt: skip


_resending = threading.Lock()  # so that the watcher never sends SIGTERM once the handler has reset it
_watch: tuple[int, int, int] | None = None  # (pid, read end, write end) of this process's wakeup pipe
_hooked = False  # multiprocessing runs ``_on_child_start`` in the children this process starts


def install() -> None:
    """Store what is queued at SIGTERM; only in the main thread (where Python allows it), and only where the app
    has not set a handler of its own."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # ours, set here or inherited from a forking parent
        _start_watching()
        _watch_in_multiprocessing_children()


def _watch_in_multiprocessing_children() -> None:
    """A forkserver child is forked with the forkserver's wakeup fd, which it then clears, after ``os.fork``'s hooks
    have run: multiprocessing's own hooks run later, as the child starts, and install again there."""
    global _hooked
    util = sys.modules.get("multiprocessing.util")
    if util is not None and not _hooked:
        _hooked = True
        util.register_after_fork(sys.modules[__name__], _on_child_start)


def _on_child_start(_module: object) -> None:
    install()


def _start_watching() -> None:
    """Have a thread see each signal arrive, through the wakeup fd, unless this process has one already (the app's,
    asyncio's, a forkserver's): then the race stays, as in any app with a SIGTERM handler of its own."""
    global _watch
    if (_watch is not None and _watch[0] == os.getpid()) or not hasattr(signal, "pthread_sigmask"):
        return
    read, write = os.pipe()
    os.set_blocking(write, False)  # the C handler must never wait to write
    try:
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread after all
        previous = None
    if previous != -1:
        if previous is not None:
            signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return
    _watch = (os.getpid(), read, write)
    start_thread(_resend_until_handled, "spanlite-sigterm", read)


def _resend_until_handled(read: int) -> None:
    """Wait for SIGTERM to arrive, then send it again until its handler has run (by the exit deadline)."""
    while True:
        try:
            arrived = os.read(read, 64)
        except OSError:
            return
        if not arrived:
            return
        if signal.SIGTERM in arrived:
            break
    give_up = time.monotonic() + _exit.EXIT_TIMEOUT_S
    while time.monotonic() < give_up:
        time.sleep(RESEND_S)
        with _resending:
            if signal.getsignal(signal.SIGTERM) is not _on_sigterm:  # handled (reset to default), or the app's own
                return
            os.kill(os.getpid(), signal.SIGTERM)  # interrupts the main thread's wait, so that the handler runs


def _after_fork_in_child() -> None:
    """The parent's watcher thread is not here, and its pipe is the parent's: let go of both, then watch anew."""
    global _watch, _resending
    _resending = threading.Lock()
    if _watch is None:
        return
    _, read, write = _watch
    _watch = None
    try:
        current = signal.set_wakeup_fd(-1)
        if current != write:
            signal.set_wakeup_fd(current)
    except ValueError:
        pass
    os.close(read)
    os.close(write)
    install()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    with _resending:
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


os.register_at_fork(after_in_child=_after_fork_in_child)
