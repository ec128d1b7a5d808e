"""Garbage-collector work that tracing causes in an app: full collections and time collecting, per span.

Objects that outlive two young collections are promoted to the oldest generation, and once enough have been, a
full collection walks every object of the app. A span held by the exporter while the writer stores its batch (tens
of ms under load) lives that long. The app here holds 200,000 small dicts besides, as a real one holds its data.
Cases alternate in one process, 2,000 `@trace` calls a round; the SQLite cases wait for every span to be stored.

    python bench/gc_pressure.py
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    Nowhere,
    bare_provider,
    machine,
    spanlite_provider,
    table,
    trace_workloads,
    wait_until_text_indexed,
)
from spanlite.store import SQLiteSpanExporter
from spanlite.tracing import _provider

CALLS = 2_000
ROUNDS = 100
APP_OBJECTS = 200_000


class Held(SpanExporter):
    """The SQLite exporter offering the processor no ``pack``: the processor then holds each batch's spans until
    they are stored, as it did before spans were let go first."""

    def __init__(self, inner: SQLiteSpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export(spans)


class Collections:
    """Counts full collections, and the CPU time of all collections, in whichever thread ran them."""

    def __init__(self) -> None:
        self.full = 0
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        self.seconds += time.thread_time() - self._started
        self.full += info["generation"] == 2


def main() -> None:
    app_data = [{"id": i, "tags": [i, str(i)]} for i in range(APP_OBJECTS)]  # noqa: F841 - held, as an app's data
    folder = Path(tempfile.mkdtemp())
    let_go = SQLiteSpanExporter(folder / "let-go.db", writer="process")
    held = SQLiteSpanExporter(folder / "held.db", writer="process")
    raw = bare_provider(max_queue_size=100_000)
    run = trace_workloads(raw.get_tracer("bench"))
    cases: dict[str, tuple[Callable[[], object], TracerProvider, Path | None]] = {
        "raw OTel span (no-op exporter)": (run["raw"], raw, None),
        "@trace, no-op exporter": (run["trace"], spanlite_provider(Nowhere()), None),
        "@trace → SQLite, spans let go before the wait (now)": (run["trace"], spanlite_provider(let_go), let_go.path),
        "@trace → SQLite, spans held through the wait (before)": (
            run["trace"],
            spanlite_provider(Held(held)),
            held.path,
        ),
    }
    counted = dict.fromkeys(cases, (0, 0.0))
    collections = Collections()
    for _ in range(ROUNDS):
        for name, (fn, provider, store) in cases.items():
            _provider.install(provider)
            full, seconds = collections.full, collections.seconds
            for _ in range(CALLS):
                fn()
            provider.force_flush()
            if store is not None:
                wait_until_text_indexed(store)
            total = counted[name]
            counted[name] = (total[0] + collections.full - full, total[1] + collections.seconds - seconds)
    spans = CALLS * ROUNDS
    base = counted["raw OTel span (no-op exporter)"]
    rows = [("case", "full collections", "ratio", "µs collecting a span", "ratio")]
    for name, (full, seconds) in counted.items():
        rows.append((name, f"{full}", f"{full / max(base[0], 1):.2f}×", f"{seconds / spans * 1e6:.1f}",
                     f"{seconds / base[1]:.2f}×"))  # fmt: skip
    print(table(rows))
    print(f"\n{spans:,} spans a case in {ROUNDS} interleaved rounds, beside {APP_OBJECTS:,} dicts of app data;")
    print(machine())


if __name__ == "__main__":
    main()
