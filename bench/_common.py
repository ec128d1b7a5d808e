"""Shared by the benchmark scripts: interleaved timing rounds and a plain table."""

from __future__ import annotations

import platform
import statistics
import time
from typing import Callable


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    """CPU time of this process (all its threads) per call: other processes on a shared machine do not count."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e6


def interleaved(candidates: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Median CPU µs per call of each candidate, in alternating rounds so remaining noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(per_call_us(fn, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, {platform.node()}"
