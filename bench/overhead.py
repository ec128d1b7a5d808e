"""Per-call cost of ``@spanlite.trace`` end to end into SQLite, against a raw OpenTelemetry span.

The baseline is what an OTel user pays anyway: ``tracer.start_as_current_span`` with a ``BatchSpanProcessor``
and an exporter that does nothing. spanlite's figures include capturing inputs and outputs and writing every
span to SQLite and indexing its text (each round waits for both, so the writer's time is counted), once with the
writer in a thread of the app and once in its writer process, whose CPU is shown both apart from the app's and
added to it. For scale, raw spans also go the standard OTel way into the same kind of store: the SDK's OTLP/HTTP
exporter sends them to ``spanlite serve``, whose CPU (receiver and writer) is added the same way.

    python bench/overhead.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    Nowhere,
    Serve,
    bare_provider,
    machine,
    spanlite_provider,
    table,
    trace_workloads,
    wait_until_text_indexed,
    writer_child_cpu,
)
from spanlite.store import SQLiteSpanExporter, TraceStore
from spanlite.tracing import _provider

CALLS = 2_000
ROUNDS = 7


class Store(NamedTuple):
    """Where a case's spans end up, and the CPU seconds used so far by the processes that store them."""

    path: Path
    cpu: Callable[[], float]


def main() -> None:
    raw = bare_provider(max_queue_size=100_000)
    serve = Serve()
    raw_otlp = TracerProvider()
    raw_otlp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=serve.endpoint), max_queue_size=100_000))
    folder = Path(tempfile.mkdtemp())
    exporters = {writer: SQLiteSpanExporter(folder / f"{writer}.db", writer=writer) for writer in ("thread", "process")}
    pipelines = {writer: spanlite_provider(exporter) for writer, exporter in exporters.items()}
    caller_only = spanlite_provider(Nowhere())
    run = trace_workloads(raw.get_tracer("bench"))
    run_otlp = trace_workloads(raw_otlp.get_tracer("bench"))
    in_thread = Store(exporters["thread"].path, lambda: 0.0)
    in_child = Store(exporters["process"].path, lambda: writer_child_cpu(exporters["process"]))
    received = Store(serve.db, lambda: sum(serve.cpu_seconds()))

    cases: dict[str, tuple[Callable[[], object], TracerProvider, Store | None]] = {
        "raw OTel span": (run["raw"], raw, None),
        "@trace, writer in a thread": (run["trace"], pipelines["thread"], in_thread),
        "@trace, writer process": (run["trace"], pipelines["process"], in_child),
        "@trace, caller's share (no writer)": (run["trace"], caller_only, None),
        "raw OTel span, OTLP → spanlite serve": (run_otlp["raw"], raw_otlp, received),
        "raw OTel 10-span trace": (run["raw-ten"], raw, None),
        "10-span trace, writer in a thread": (run["trace-ten"], pipelines["thread"], in_thread),
        "10-span trace, writer process": (run["trace-ten"], pipelines["process"], in_child),
        "10-span trace, caller's share (no writer)": (run["trace-ten"], caller_only, None),
        "raw OTel 10-span trace, OTLP → spanlite serve": (run_otlp["raw-ten"], raw_otlp, received),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (fn, provider, store) in cases.items():
            samples[name].append(_measure(fn, provider, store))
    medians = {name: tuple(statistics.median(v[i] for v in values) for i in (0, 1)) for name, values in samples.items()}

    rows = [("case", "app CPU µs/call", "ratio", "+ CPU of the writer process or of serve", "ratio")]
    for name in cases:
        base = medians["raw OTel 10-span trace" if "10-span" in name else "raw OTel span"][0]
        app, total = medians[name]
        rows.append((name, f"{app:.1f}", f"{app / base:.2f}×", f"{total:.1f}", f"{total / base:.2f}×"))
    print(table(rows))
    print(
        f"\n{CALLS} calls × {ROUNDS} interleaved rounds, medians, each round ending with a flush (every span written"
        f" and committed); CPU time of this process, then with that of the processes storing the spans; {machine()}"
    )
    for name, path in [*((f"writer {w}", e.path) for w, e in exporters.items()), ("spanlite serve", serve.db)]:
        stats = TraceStore(path).stats()
        print(f"{name}: stored {stats['spans']} spans, dropped {stats['dropped_spans']}")
    raw_otlp.shutdown()
    serve.stop()


def _measure(fn: Callable[[], object], provider: TracerProvider, store: Store | None) -> tuple[float, float]:
    """CPU µs per call of this process, and of this process plus those storing the spans, flush included."""
    _provider.install(provider)
    elsewhere_before = store.cpu() if store is not None else 0.0
    start = time.process_time()
    for _ in range(CALLS):
        fn()
    provider.force_flush()
    if store is not None:
        wait_until_text_indexed(store.path)  # so the writer's trailing indexing lands in this round, not the next
    own = time.process_time() - start
    elsewhere = store.cpu() - elsewhere_before if store is not None else 0.0
    return own / CALLS * 1e6, (own + elsewhere) / CALLS * 1e6


if __name__ == "__main__":
    main()
