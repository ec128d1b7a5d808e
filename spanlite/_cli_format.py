"""How the spanlite command writes times, durations, counts and sizes for people to read: times in local time with
the zone named, so that a time read off one machine means the same on another."""

from __future__ import annotations

import datetime as dt


def clock(ns: int) -> str:
    """A time in local time with its zone named, e.g. ``2026-12-06 09:41:00 CET``."""
    return clock_of(dt.datetime.fromtimestamp(ns / 1e9).astimezone())


def clock_of(when: dt.datetime) -> str:
    """``when`` in local time with its zone named."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


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
