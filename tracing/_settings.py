"""spanlite's ``SPANLITE_*`` environment variables, read in one place that every layer may import.

A typo in the environment must not stop an app from importing or lose its spans: a value that cannot be read
gives one warning (the variable, the value, what is accepted, the default used) and the default. Counts and sizes
take the units people write: ``20k`` spans, ``256KiB`` or ``1MB``.

The variables: ``SPANLITE_DB`` (the default store; ``store._db``), ``SPANLITE_STRICT`` (``_guard``),
``SPANLITE_MAX_QUEUE`` (``_processor``), ``SPANLITE_MAX_FIELD_BYTES`` (``serialize``), ``SPANLITE_WRITER``
(``store.exporter``), ``SPANLITE_MAX_BODY_BYTES`` (``otlp.receiver``), and ``SPANLITE_USER`` (the viewer's rater
name: any text). ``spanlite run`` sets ``SPANLITE_AUTOLOG`` for its start-up hook (``spanlite/_bootstrap``), which
reads it without importing spanlite.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

logger = logging.getLogger("spanlite")

_NUMBER = re.compile(r"\s*(\d+(?:_\d+)*(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_COUNT_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}
_BYTE_UNITS = {
    "": 1, "b": 1,
    "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}  # fmt: skip
_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_warned: set[tuple[str, str]] = set()  # (variable, value): a setting read on every call warns once


def count(name: str, default: int, *, minimum: int = 1) -> int:
    """``$name`` as a whole number of things (``20000``, ``20_000``, ``20k``, ``1M``), else ``default``."""
    return _number(name, default, minimum, _COUNT_UNITS, f"a whole number of at least {minimum}, such as 20000 or 20k")


def size(name: str, default: int, *, minimum: int) -> int:
    """``$name`` as a number of bytes (``262144``, ``256KiB``, ``1MB``), else ``default``."""
    return _number(name, default, minimum, _BYTE_UNITS, _sizes_accepted(minimum))


def choice(name: str, default: str, choices: Iterable[str]) -> str:
    """``$name`` if it is one of ``choices`` (in any case, spaces around ignored), else ``default``."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in choices:
        return value
    _warn(name, raw, " or ".join(repr(c) for c in choices), default)
    return default


def flag(name: str) -> bool:
    """``$name`` as on (``1``, ``true``, ``yes``, ``on``) or off (unset, ``0``, ``false``, ``no``, ``off``)."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in _ON or value in _OFF:
        return value in _ON
    _warn(name, raw, "1/true/yes/on or 0/false/no/off", "off")
    return False


def path(name: str) -> Path | None:
    """``$name`` as a path (``~`` expanded), ``None`` if unset or blank."""
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def parse_size(text: str, *, minimum: int) -> int:
    """``text`` as a number of bytes, in the units ``size`` takes; ``ValueError`` saying what is accepted if it is
    not one (for command-line options: ``spanlite serve --max-body-size 64MiB``)."""
    value = _parse(text, minimum, _BYTE_UNITS)
    if value is None:
        raise ValueError(f"{text!r} is not {_sizes_accepted(minimum)}")
    return value


def _sizes_accepted(minimum: int) -> str:
    return f"a number of bytes of at least {minimum}, such as 262144, 256KiB or 1MB"


def _number(name: str, default: int, minimum: int, units: dict[str, int], accepted: str) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    value = _parse(raw, minimum, units)
    if value is None:
        _warn(name, raw, accepted, default)
        return default
    return value


def _parse(text: str, minimum: int, units: dict[str, int]) -> int | None:
    match = _NUMBER.fullmatch(text)
    unit = units.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        return None
    value = int(Decimal(match.group(1).replace("_", "")) * unit)
    return value if value >= minimum else None


def _warn(name: str, raw: str, accepted: str, default: object) -> None:
    if (name, raw) in _warned:
        return
    _warned.add((name, raw))
    logger.warning("spanlite ignores %s=%r (accepted: %s) and uses the default, %s", name, raw, accepted, default)
