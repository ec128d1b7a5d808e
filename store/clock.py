"""Times for people to read, in one zone with its name, so that a time read off one machine means the same on another.

Shared by the CLI (always local time) and the viewer (local or UTC, as its reader chooses); here rather than in
either, because the viewer must not import the ``spanlite`` face package.
"""

from __future__ import annotations

import datetime as dt

FORMAT = "%Y-%m-%d %H:%M:%S"


def local_zone() -> dt.tzinfo:
    """This process's zone (``$TZ``, else the system's), as it is now."""
    zone = dt.datetime.now().astimezone().tzinfo
    assert zone is not None  # astimezone() always gives an aware datetime
    return zone


def at(ns: int, zone: dt.tzinfo | None = None) -> dt.datetime:
    """Nanoseconds since the epoch as a datetime in ``zone``, or in local time (with the zone's name then, such as
    CET or CEST, whichever held on that day)."""
    return (
        dt.datetime.fromtimestamp(ns / 1e9, zone)
        if zone is not None
        else dt.datetime.fromtimestamp(ns / 1e9).astimezone()
    )


def zone_name(zone: dt.tzinfo | None = None) -> str:
    """The zone's name now, such as ``CET`` or ``UTC``; local time when ``zone`` is ``None``."""
    return dt.datetime.now(zone).astimezone(zone).tzname() or "local time"


def clock(ns: int, zone: dt.tzinfo | None = None) -> str:
    """A time with its zone named, e.g. ``2026-12-06 09:41:00 CET``; local time when ``zone`` is ``None``."""
    return clock_of(at(ns, zone), zone)


def clock_of(when: dt.datetime, zone: dt.tzinfo | None = None) -> str:
    """``when`` in ``zone`` (local time when ``None``) with the zone named."""
    return when.astimezone(zone).strftime(f"{FORMAT} %Z")
