"""Traced recursion as deep as plain recursion.

A traced call runs inside a wrapper: two Python frames a level where a plain call takes one, so a traced function
that recursed hit ``RecursionError`` at half the depth. While traced calls nest deep, the interpreter's recursion
limit is raised by as many frames as they add, and lowered again as they return.

Each span knows how many of spanlite's spans enclose it (``span.start_otel_span``): per thread and per asyncio
task, as contexts are, and an upper bound of the traced calls on the stack. Only every ``STEP`` levels does more
happen: the limit is set to what the deepest flow of control needs, plus a margin for spanlite's own work at the
deepest call. So flows less than ``STEP`` deep leave the limit alone, and the others change it once in ``STEP``
levels. It is the interpreter's, shared by every thread: one that recurses deep lets the others go deeper too while
it does. Raising it is safe on CPython 3.11 to 3.13: calls from Python to Python functions (``func(*args,
**kwargs)`` included) take no C stack there, and 3.12 and later guard the C stack with a limit of their own; what
spanlite adds is capped at the app's own limit plus the margin, a bit over double. Generators are not counted.
"""

from __future__ import annotations

import collections
import sys
import threading

STEP = 50
_MARGIN = 200  # frames spanlite's own work may take beyond the deepest traced call (the OTel SDK, to_json, ...)

_flows: collections.Counter[int] = collections.Counter()  # by level // STEP: the flows now at least that deep
_lock = threading.Lock()
_app_limit: int | None = None  # the limit as the app set it, while spanlite has it raised
_our_limit: int | None = None  # the limit spanlite last set


def entered(level: int) -> None:
    """A flow has entered its ``level``-th traced call, ``level`` a multiple of ``STEP``."""
    _change(level // STEP, 1)


def left(level: int) -> None:
    """A flow has left its ``level``-th traced call, ``level`` a multiple of ``STEP``."""
    _change(level // STEP, -1)


def _change(steps: int, flows: int) -> None:
    global _app_limit, _our_limit
    with _lock:
        _flows[steps] += flows
        if _flows[steps] <= 0:
            del _flows[steps]
        current = sys.getrecursionlimit()
        if _app_limit is None or current != _our_limit:  # the first raise, or the app has set a limit since
            _app_limit = current
        extra = min((max(_flows) + 1) * STEP + _MARGIN, _app_limit + _MARGIN) if _flows else 0
        limit = _app_limit + extra
        try:
            sys.setrecursionlimit(limit)
        except RecursionError:  # lower than this very stack is deep: lowered at a later step, as it unwinds
            return
        _our_limit = limit
        if not _flows:
            _app_limit = None
