"""The end of a process: every processor closes by one deadline, however the process ends.

A process ends with ``atexit`` (a normal exit, ``sys.exit``, an uncaught exception, a spawn child), with SIGTERM
(``spanlite._signals``), or, as a multiprocessing fork or forkserver child (a pool worker too), in
``multiprocessing.process.BaseProcess._bootstrap``, which runs multiprocessing's exit finalizers and then leaves by
``os._exit``, so that ``atexit`` never runs there. Each of these calls ``close_all``, which closes every processor
within ``EXIT_TIMEOUT_S`` of the moment the process began to end; two of them at once (a SIGTERM during the exit
flush) share that deadline. A process ended otherwise does not close: by SIGKILL or another signal whose default
action kills (spanlite handles only SIGTERM), by ``os._exit`` elsewhere, or by a crash of the interpreter.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._threads import untraced

if TYPE_CHECKING:
    from ._processor import QueueProcessor

EXIT_TIMEOUT_S = 5.0  # how long the end of a process may spend storing what is queued

_live: weakref.WeakSet[QueueProcessor] = weakref.WeakSet()
_began: float | None = None  # when this process began to end
_after_fork_hooked = False  # multiprocessing runs ``_on_child_start`` if this process becomes (or forks) a child
_finalizer_pid: int | None = None  # the process in which ``close_all`` is a multiprocessing exit finalizer


def close_at_exit(processor: QueueProcessor) -> None:
    """Have ``processor`` closed as the process ends (it is let go of when nothing else holds it)."""
    _live.add(processor)
    _close_when_multiprocessing_child_ends()


def close(processors: Iterable[QueueProcessor], began: float) -> None:
    """Close ``processors`` together: each has its ``exit_timeout_s`` from ``began``, and meanwhile their export
    threads all store what is queued at once."""
    processors = list(processors)
    with untraced():  # in a thread of the app's: what the exporters send and write as they close is not the app's
        for processor in processors:
            processor.begin_closing(began)
        for processor in processors:
            processor.finish_closing()


def close_all() -> None:
    """The process is ending: close every processor by the one exit deadline."""
    global _began
    if _began is None:
        _began = time.monotonic()
    close(list(_live), _began)


def _close_when_multiprocessing_child_ends() -> None:
    """Have ``close_all`` run as this process ends, if it is a multiprocessing child (or becomes one).

    A child clears the exit finalizers it inherits as it starts, so ours is registered in the child itself: at once
    if it has started, else by multiprocessing's after-fork hooks, which run as it starts (whatever the start
    method: a spawn child runs them too, and ``atexit`` after them, which then finds everything closed).
    """
    global _after_fork_hooked, _finalizer_pid
    util = sys.modules.get("multiprocessing.util")
    if util is None:  # multiprocessing is not loaded: no child of it runs here, and none can start from here yet
        return
    if sys.modules["multiprocessing.process"].parent_process() is None:
        if not _after_fork_hooked:
            _after_fork_hooked = True
            util.register_after_fork(sys.modules[__name__], _on_child_start)
    elif _finalizer_pid != os.getpid():
        _finalizer_pid = os.getpid()
        util.Finalize(None, close_all, exitpriority=-100)  # after the app's finalizers, which use 0 and up


def _on_child_start(_module: object) -> None:
    _close_when_multiprocessing_child_ends()


def _after_fork_in_child() -> None:
    global _began
    _began = None
    if _live:  # processors made by the parent: this process may be a multiprocessing child starting
        _close_when_multiprocessing_child_ends()


atexit.register(close_all)  # at import, so that ``atexit`` handlers the app registers later run first, and trace
os.register_at_fork(after_in_child=_after_fork_in_child)
