"""What tracing with spanlite adds to an app's start: import time and memory, against the bare OTel SDK.

Each case is a fresh Python process that imports, sets up, ends one span and flushes it, into a store that already
exists (as on every start but an app's first), and into a new one (an app's first start, or every start where the
store does not outlive the process). The baseline is the OTel SDK with a ``BatchSpanProcessor`` and an exporter
that does nothing. Cases alternate, 7 processes each; medians.

    python bench/startup.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table
from spanlite.store._db import open_connection

PROCESSES = 7

_MEASURE = """
import json, sys, time
started = time.perf_counter()
{setup}
imported = time.perf_counter()
{span}
done = time.perf_counter()
heavy = [name for name in ("sqlite_utils", "pandas", "numpy") if name in sys.modules]
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))  # kB, this exec's
print(json.dumps([imported - started, done - imported, peak, heavy]))
"""

_SPANLITE = (
    "import spanlite",
    "spanlite.configure(db={db!r})\nwith spanlite.start_span('step'): pass\nspanlite.flush()",
)
CASES = {  # name: (set-up, one span, into a new store)
    "OTel SDK, no-op exporter": (
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult",
        "class Nowhere(SpanExporter):\n"
        "    def export(self, spans): return SpanExportResult.SUCCESS\n"
        "provider = TracerProvider(); provider.add_span_processor(BatchSpanProcessor(Nowhere()))\n"
        "with provider.get_tracer('bench').start_as_current_span('step'): pass\n"
        "provider.force_flush()",
        False,
    ),
    "spanlite, SQLite store": (*_SPANLITE, False),
    "spanlite, a new SQLite store": (*_SPANLITE, True),
}


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    db = str(folder / "startup.db")
    open_connection(db).close()  # the schema is in place, as after an app's first start
    runs: dict[str, list[list]] = {name: [] for name in CASES}
    for i in range(PROCESSES):
        for name, (setup, span, new_store) in CASES.items():
            code = _MEASURE.format(setup=setup, span=span.format(db=str(folder / f"new-{i}.db") if new_store else db))
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            runs[name].append(json.loads(done.stdout))
    base = {i: statistics.median(run[i] for run in runs["OTel SDK, no-op exporter"]) for i in (0, 1, 2)}
    rows = [("case", "import ms", "ratio", "set-up + one span ms", "peak memory MB", "ratio", "imported too")]
    for name, values in runs.items():
        imported, first, memory = (statistics.median(run[i] for run in values) for i in (0, 1, 2))
        heavy = ", ".join(values[0][3]) or "none of sqlite_utils, pandas, numpy"
        rows.append((name, f"{imported * 1000:.0f}", f"{imported / base[0]:.2f}×", f"{first * 1000:.0f}",
                     f"{memory / 1024:.0f}", f"{memory / base[2]:.2f}×", heavy))  # fmt: skip
    print(table(rows))
    print(f"\n{PROCESSES} fresh processes per case, medians; peak memory is the process's high-water mark (Linux);")
    print(machine())


if __name__ == "__main__":
    main()
