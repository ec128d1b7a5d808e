"""Per-call cost of ``@spanlite.trace`` end to end into SQLite, against a raw OpenTelemetry span.

The baseline is what an OTel user pays anyway: ``tracer.start_as_current_span`` with a ``BatchSpanProcessor``
and an exporter that does nothing. spanlite's figure includes capturing inputs and outputs and writing every
span to SQLite (the writer thread's time is counted: the run ends with a flush).

    python bench/overhead.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, machine, table  # noqa: E402

import spanlite  # noqa: E402
from spanlite.tracing import _provider  # noqa: E402
from spanlite.tracing._processor import QueueProcessor  # noqa: E402

CALLS = 2_000
ROUNDS = 7


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=100_000))
    tracer = provider.get_tracer("bench")
    spanlite.configure(db=Path(tempfile.mkdtemp()) / "bench.db")
    arg = {"question": "what is the refund policy?", "user": "ada", "k": 3}

    def raw_one(payload: dict[str, Any]) -> dict[str, Any]:
        with tracer.start_as_current_span("work"):
            return {"answer": payload["question"].upper()}

    @spanlite.trace
    def traced_one(payload: dict[str, Any]) -> dict[str, Any]:
        return {"answer": payload["question"].upper()}

    def raw_ten() -> None:
        with tracer.start_as_current_span("root"):
            for _ in range(9):
                raw_one(arg)

    @spanlite.trace
    def traced_ten() -> None:
        for _ in range(9):
            traced_one(arg)

    candidates = {
        "raw OTel span": lambda: raw_one(arg),
        "spanlite @trace": lambda: traced_one(arg),
        "raw OTel 10-span trace": raw_ten,
        "spanlite 10-span trace": traced_ten,
    }
    # Each round ends with a flush so the SQLite writer's work is inside the measured time.
    timed = {name: _with_flush(fn, provider) for name, fn in candidates.items()}
    result = interleaved(timed, CALLS, ROUNDS)
    rows = [("case", "µs per call", "ratio to raw OTel")]
    for name in candidates:
        base = result["raw OTel span"] if "10-span" not in name else result["raw OTel 10-span trace"]
        rows.append((name, f"{result[name]:.1f}", f"{result[name] / base:.2f}×"))
    print(table(rows))
    print(f"\n{CALLS} calls × {ROUNDS} interleaved rounds, medians; {machine()}")

    # The caller's share alone: the same decorator with spans handed to a writer that does nothing, which is what
    # the application thread pays when the SQLite writer runs elsewhere (another core, idle time).
    caller_only = TracerProvider()
    caller_only.add_span_processor(QueueProcessor(NoopExporter(), max_queue=10**7))
    _provider.install(caller_only)
    shares = interleaved({"raw": lambda: raw_one(arg), "spanlite": lambda: traced_one(arg)}, CALLS, ROUNDS)
    print(f"caller's share only: raw OTel {shares['raw']:.1f} µs, spanlite @trace {shares['spanlite']:.1f} µs "
          f"({shares['spanlite'] / shares['raw']:.2f}×)")
    stats = spanlite.store.TraceStore(spanlite._config.settings().db).stats()
    print(f"stored {stats['spans']} spans, dropped {stats['dropped_spans']}")


def _with_flush(fn: Any, provider: TracerProvider) -> Any:
    counter = {"n": 0}

    def run() -> None:
        fn()
        counter["n"] += 1
        if counter["n"] % CALLS == 0:  # the last call of a round: wait until every span is written and indexed
            provider.force_flush()
            spanlite.flush()
            spanlite._config.default_store().index_text()

    return run


if __name__ == "__main__":
    time.sleep(0)
    main()
