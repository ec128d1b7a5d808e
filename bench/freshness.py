"""How long after a traced call returns its trace is readable in the store, from another connection.

python bench/freshness.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import spanlite
from _common import machine, table
from spanlite.store import TraceStore

SAMPLES = 30


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "fresh.db"
    spanlite.configure(db=path)
    reader = TraceStore(path)

    @spanlite.trace
    def work(i: int) -> int:
        return i

    delays = []
    for i in range(SAMPLES):
        with spanlite.start_span("request") as span:
            work(i)
        returned = time.perf_counter()
        while reader.get_trace(span.trace_id) is None:
            time.sleep(0.002)
        delays.append((time.perf_counter() - returned) * 1000)
        time.sleep(0.05)  # an app that is not tracing flat out
    rows = [
        ("measure", "ms"),
        ("median", f"{statistics.median(delays):.0f}"),
        ("p95", f"{sorted(delays)[int(len(delays) * 0.95) - 1]:.0f}"),
        ("max", f"{max(delays):.0f}"),
    ]
    print(table(rows))
    print(f"\n{SAMPLES} traces, polled every 2 ms from a second connection; target ≤ 1000 ms; {machine()}")


if __name__ == "__main__":
    main()
