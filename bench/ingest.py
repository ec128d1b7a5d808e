"""Sustained ingest into SQLite: from a producer thread in-process, and through ``spanlite serve`` (OTLP/HTTP).

Every span is accounted for at the end: stored + counted as dropped = produced. A second run with a small queue
shows memory staying bounded when the producer outruns the writer (drops are counted, never silent).

    python bench/ingest.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

import spanlite  # noqa: E402
from spanlite.store import TraceStore, start_receiver  # noqa: E402

SPANS = 60_000
SPANS_PER_TRACE = 10
SENDER = """
import sys, time
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1]), max_queue_size=200_000,
                                               max_export_batch_size=2048))
tracer = provider.get_tracer("sender")
for t in range(int(sys.argv[2]) // 10):
    with tracer.start_as_current_span("root", attributes={"input.value": "question %d" % t}):
        for s in range(9):
            with tracer.start_as_current_span("child", attributes={"llm.model_name": "gpt-4o"}):
                pass
provider.shutdown()
"""


def produce(count: int) -> None:
    for _ in range(count // SPANS_PER_TRACE):
        with spanlite.start_span("root", inputs={"q": "what is the refund policy?"}):
            for i in range(SPANS_PER_TRACE - 1):
                with spanlite.start_span("step", kind="TOOL", inputs={"i": i}) as span:
                    span.set_outputs({"ok": True})


def in_process(queue: int | None) -> tuple[str, ...]:
    path = Path(tempfile.mkdtemp()) / "ingest.db"
    spanlite.configure(db=path)
    processor = spanlite._config._pipeline.processors[0]  # type: ignore[union-attr]
    if queue is not None:
        processor.max_queue = queue
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    producer = threading.Thread(target=produce, args=(SPANS,))
    producer.start()
    producer.join()
    spanlite.flush()
    elapsed = time.perf_counter() - start
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    stats = TraceStore(path).stats()
    accounted = stats["spans"] + stats["dropped_spans"]
    label = "producer thread → SQLite" + (f" (queue {queue})" if queue else "")
    return (label, f"{stats['spans'] / elapsed:,.0f}", f"{stats['spans']:,}", f"{stats['dropped_spans']:,}",
            "yes" if accounted == SPANS else f"NO ({accounted:,})", f"{rss_growth:.0f}")  # fmt: skip


def through_receiver() -> tuple[str, ...]:
    path = Path(tempfile.mkdtemp()) / "received.db"
    receiver = start_receiver(path, port=0)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SENDER, receiver.endpoint, str(SPANS)], check=True)
    elapsed = time.perf_counter() - start
    receiver.stop()
    stored = TraceStore(path).stats()["spans"]
    ok = "yes" if stored == SPANS else f"NO ({stored:,})"
    return ("OTel SDK → spanlite serve → SQLite", f"{stored / elapsed:,.0f}", f"{stored:,}", "0", ok, "-")


def main() -> None:
    rows = [("path", "spans/s", "stored", "dropped", "all accounted", "peak RSS growth MB")]
    rows.append(in_process(None))
    rows.append(in_process(2_000))
    rows.append(through_receiver())
    print(table(rows))
    print(f"\n{SPANS:,} spans in traces of {SPANS_PER_TRACE}; target ≥ 20,000 spans/s; {machine()}")


if __name__ == "__main__":
    main()
