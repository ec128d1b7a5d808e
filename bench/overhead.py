"""Per-call cost of ``@spanlite.trace`` end to end into SQLite, against a raw OpenTelemetry span.

The baseline is what an OTel user pays anyway: ``tracer.start_as_current_span`` with a ``BatchSpanProcessor``
and an exporter that does nothing. spanlite's figures include capturing inputs and outputs and writing every
span to SQLite and indexing its text (each round waits for both, so the writer's time is counted), once with the writer in a thread
of the app and once in its writer process, whose CPU is shown both apart from the app's and added to it.

    python bench/overhead.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table, trace_workloads, wait_until_text_indexed, writer_child_cpu  # noqa: E402

from spanlite.store import SQLiteSpanExporter, TraceStore  # noqa: E402
from spanlite.tracing import _provider  # noqa: E402
from spanlite.tracing._processor import QueueProcessor  # noqa: E402

CALLS = 2_000
ROUNDS = 7


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> None:
    raw = TracerProvider()
    raw.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=100_000))
    tracer = raw.get_tracer("bench")
    folder = Path(tempfile.mkdtemp())
    pipelines = {
        writer: _pipeline(SQLiteSpanExporter(folder / f"{writer}.db", writer=writer))
        for writer in ("thread", "process")
    }
    caller_only = _pipeline(NoopExporter())
    run = trace_workloads(tracer)

    cases: dict[str, tuple[Callable[[], object], TracerProvider]] = {
        "raw OTel span": (run["raw"], raw),
        "@trace, writer in a thread": (run["trace"], pipelines["thread"]),
        "@trace, writer process": (run["trace"], pipelines["process"]),
        "@trace, caller's share (no writer)": (run["trace"], caller_only),
        "raw OTel 10-span trace": (run["raw-ten"], raw),
        "10-span trace, writer in a thread": (run["trace-ten"], pipelines["thread"]),
        "10-span trace, writer process": (run["trace-ten"], pipelines["process"]),
        "10-span trace, caller's share (no writer)": (run["trace-ten"], caller_only),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (fn, provider) in cases.items():
            samples[name].append(_measure(fn, provider))
    medians = {name: tuple(statistics.median(v[i] for v in values) for i in (0, 1)) for name, values in samples.items()}

    rows = [("case", "app CPU µs/call", "ratio", "+ writer process CPU", "ratio")]
    for name in cases:
        base = medians["raw OTel 10-span trace" if "10-span" in name else "raw OTel span"][0]
        app, total = medians[name]
        rows.append((name, f"{app:.1f}", f"{app / base:.2f}×", f"{total:.1f}", f"{total / base:.2f}×"))
    print(table(rows))
    print(f"\n{CALLS} calls × {ROUNDS} interleaved rounds, medians, each round ending with a flush (every span written"
          f" and committed); CPU time of this process, then with the writer child's; {machine()}")
    for writer, provider in pipelines.items():
        exporter = _exporter(provider)
        assert exporter is not None
        stats = TraceStore(exporter.path).stats()
        print(f"writer {writer}: stored {stats['spans']} spans, dropped {stats['dropped_spans']}")


def _pipeline(exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(QueueProcessor(exporter, max_queue=10**7))
    return provider


def _exporter(provider: TracerProvider) -> SQLiteSpanExporter | None:
    """The provider's SQLite exporter; ``None`` for the baselines (the SDK's BatchSpanProcessor, a no-op exporter)."""
    exporter = getattr(provider._active_span_processor._span_processors[0], "exporter", None)  # type: ignore[attr-defined]
    return exporter if isinstance(exporter, SQLiteSpanExporter) else None


def _measure(fn: Callable[[], object], provider: TracerProvider) -> tuple[float, float]:
    """CPU µs per call of this process, and of this process plus the store's writer child, flush included."""
    _provider.install(provider)
    stored = _exporter(provider)
    child_before = writer_child_cpu(stored)
    start = time.process_time()
    for _ in range(CALLS):
        fn()
    provider.force_flush()
    if stored is not None:
        wait_until_text_indexed(stored)  # so the writer's trailing indexing lands in this round, not the next
    own = time.process_time() - start
    child = writer_child_cpu(stored) - child_before
    return own / CALLS * 1e6, (own + child) / CALLS * 1e6


if __name__ == "__main__":
    main()
