"""Scores as numbers, for means and deltas: what ``evaluate``'s metrics and ``compare_runs`` both count.

As MLflow does: bools are 1/0, ``"yes"``/``"no"`` (a judge's categorical verdict) are 1/0, numbers are themselves;
any other text and any error have no number and are left out of a mean rather than counted as zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

_VERDICTS = {"yes": 1.0, "no": 0.0}


def as_number(value: Any) -> float | None:
    """``value`` as a number to average, or ``None`` if it has none."""
    if isinstance(value, bool | int):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _VERDICTS.get(value.strip().lower())
    return None


def mean(values: Iterable[Any]) -> float | None:
    """The mean of the values that have a number; ``None`` when none has."""
    numbers = [n for n in map(as_number, values) if n is not None]
    return sum(numbers) / len(numbers) if numbers else None
