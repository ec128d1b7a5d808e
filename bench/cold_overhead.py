"""``@spanlite.trace`` against a raw OpenTelemetry span when the caches are cold, as they are in a real app.

``overhead.py`` calls the traced function thousands of times in a row, so every byte of tracing code and data is
in the CPU's caches. In an app, a span starts after the app's own work (a model call parsing a response, a
database query, a template) has pushed tracing out of them. Here each call follows a sweep over 16 MB, and only
the call is timed. The baseline is the same as ``overhead.py``'s: a raw OTel span with a ``BatchSpanProcessor``
and an exporter that does nothing; spanlite's spans go to its SQLite store.

    python bench/cold_overhead.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import spanlite
from _common import (
    bare_provider,
    machine,
    table,
    trace_workloads,
    wait_until_text_indexed,
    writer_child_cpu,
)
from spanlite import _config

CALLS = 200
ROUNDS = 7
_SWEPT = bytearray(16 * 1024 * 1024)  # larger than this machine's caches
_OBJECTS = [{"id": i, "name": str(i)} for i in range(100_000)]


def app_work() -> None:
    """What an app does between two spans, as far as the caches can tell: touches a lot of memory."""
    _SWEPT[::64] = bytes(len(_SWEPT) // 64)
    sum(item["id"] for item in _OBJECTS[::2])


def per_call_us(
    fn: Callable[[], object], cold: bool, flush: Callable[[], object], exporter: Any
) -> tuple[float, float]:
    """CPU µs per call of ``fn`` in the calling thread, each call after ``app_work`` if ``cold``; and of the rest of
    tracing the calls, the flush included: this process's other threads and ``exporter``'s writer child."""
    spent = 0.0
    elsewhere = -(time.process_time() - time.thread_time()) - writer_child_cpu(exporter)
    for _ in range(CALLS):
        if cold:
            app_work()
        start = time.thread_time()
        fn()
        spent += time.thread_time() - start
    start = time.thread_time()
    flush()
    elsewhere += time.thread_time() - start + (time.process_time() - time.thread_time()) + writer_child_cpu(exporter)
    return spent / CALLS * 1e6, elsewhere / CALLS * 1e6


def main() -> None:
    raw = bare_provider(max_queue_size=100_000)
    os.environ["SPANLITE_WRITER"] = "process"  # the writer's CPU is then its own process's, and counted as such
    spanlite.configure(db=Path(tempfile.mkdtemp()) / "cold.db")
    exporter = _config._pipeline.processors[0].exporter  # type: ignore[union-attr]

    def stored() -> None:
        spanlite.flush()
        wait_until_text_indexed(exporter.path)

    run = trace_workloads(raw.get_tracer("bench"))
    cases = {"raw OTel span": (run["raw"], raw.force_flush, None), "@trace": (run["trace"], stored, exporter),
             "raw OTel 10-span trace": (run["raw-ten"], raw.force_flush, None),
             "10-span trace": (run["trace-ten"], stored, exporter)}  # fmt: skip
    samples: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    for _ in range(ROUNDS):
        for cold in (False, True):
            for name, (fn, flush, stored_by) in cases.items():
                samples.setdefault((name, cold), []).append(per_call_us(fn, cold, flush, stored_by))
    caller = {key: statistics.median(s[0] for s in values) for key, values in samples.items()}
    total = {key: statistics.median(s[0] + s[1] for s in values) for key, values in samples.items()}
    rows = [("case", "hot µs/call", "ratio", "cold µs/call", "ratio", "cold, with export and writer", "ratio")]
    for name in cases:
        base = "raw OTel 10-span trace" if "10-span" in name else "raw OTel span"
        row = [name]
        for figures, cold in ((caller, False), (caller, True), (total, True)):
            row += [f"{figures[name, cold]:.1f}", f"{figures[name, cold] / figures[base, cold]:.2f}×"]
        rows.append(tuple(row))
    print(table(rows))
    print(f"\n{CALLS} calls × {ROUNDS} interleaved rounds, medians; the calling thread's CPU time, cold: each call")
    print("after a sweep over 16 MB; the last figures add the CPU of exporting them (the other threads, the flush) and")
    print(f"of spanlite's writer process storing and indexing them; {machine()}")


if __name__ == "__main__":
    main()
