"""What ``@spanlite.trace`` costs the app against a raw OTel span, in instructions counted by callgrind.

The same cases as ``overhead.py``, but counted in instructions, which repeat exactly on a noisy machine. Each case
runs in its own process; ``SPANS`` spans (in single-span or 10-span traces), flushed every ``FLUSH_EVERY`` spans,
run inside one ``functools.reduce``, the counted part (see ``_common.callgrind_instructions``). As many spans wait
for each flush in every case, so the garbage collector's share (it walks every waiting span) is alike; it still
varies by a few percent from run to run, as a full collection falls inside the counted part or not. The flush
exports from the calling thread, so what the app's export thread does for each span (for spanlite: reading the span
into plain values and handing it to the writer process) is counted too; the writer process's own work is not (it is
in ``overhead.py``).

    python bench/trace_callgrind.py            # needs valgrind; takes about a minute
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import callgrind_instructions, table, trace_workloads

SPANS = 1_000
FLUSH_EVERY = 200
CASES = ("raw", "trace", "raw-ten", "trace-ten")


def run_calls(case: str) -> None:
    """The measured process: a warm-up, then ``SPANS`` spans and their flushes inside ``functools.reduce``."""
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    import spanlite

    class NoopExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    # Exports wait for the flush, so none of them runs on the export thread inside the counted part.
    raw = TracerProvider()
    raw.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=10**5, schedule_delay_millis=10**6))
    tracer = raw.get_tracer("bench")
    spanlite.configure(db=Path(tempfile.mkdtemp()) / "trace.db")
    processor = spanlite._config._pipeline.processors[0]  # type: ignore[union-attr]
    processor.delay_s = 10**6
    processor.exporter._mode = "process"  # under load, as here, the default moves writing to the child
    call = trace_workloads(tracer)[case]
    flush = spanlite.flush if case.startswith("trace") else raw.force_flush
    for _ in range(20):
        call()
    flush()

    spans_per_call = 10 if case.endswith("ten") else 1

    def counted(_: object, i: int) -> None:
        call()
        if (i + 1) * spans_per_call % FLUSH_EVERY == 0:
            flush()

    functools.reduce(counted, range(SPANS // spans_per_call), None)


def main() -> None:
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        counts = dict(zip(CASES, pool.map(lambda case: callgrind_instructions(__file__, case), CASES)))
    rows = [("case", "instructions per span", "ratio")]
    for case, base, spans in (("trace", "raw", 1), ("trace-ten", "raw-ten", 10)):
        raw, traced = counts[base] / SPANS, counts[case] / SPANS
        rows.append((f"raw OTel span{'s of 10-span traces' if spans > 1 else ''}", f"{raw:,.0f}", "1.00×"))
        rows.append((f"@trace{', 10-span traces' if spans > 1 else ''}", f"{traced:,.0f}", f"{traced / raw:.2f}×"))
    print(table(rows))
    print(
        f"\n{SPANS} spans, flushed from the calling thread every {FLUSH_EVERY}; per span; spanlite writes through its"
        " writer process"
    )


if __name__ == "__main__":
    if len(sys.argv) == 2:
        run_calls(sys.argv[1])
    else:
        main()
