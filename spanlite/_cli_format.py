"""How the spanlite command writes times, durations, counts and sizes for people to read: times in local time with
the zone named (``store/clock.py``, shared with the viewer)."""

from __future__ import annotations

import datetime as dt

from spanlite.store.clock import clock, clock_of  # the viewer names times the same way

__all__ = ["clock", "clock_of", "clock_width", "duration", "plural", "size"]


def clock_width() -> int:
    """The width of a time column's values, for its heading."""
    return len(clock_of(dt.datetime.now()))


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def size(n: int) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= unit:
            return f"{n / unit:.1f} {name}"
    return f"{n} bytes"


def duration(ms: float) -> str:
    return f"{ms:.0f}ms" if ms < 10_000 else f"{ms / 1000:.1f}s"
