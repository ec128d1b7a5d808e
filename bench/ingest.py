"""Sustained ingest into SQLite: from a producer thread in-process, and through ``spanlite serve`` (OTLP/HTTP).

Every span is accounted for at the end: stored + counted as dropped = produced. A second run with a small queue
shows memory staying bounded when the producer outruns the writer (drops are counted, never silent).

``spanlite serve`` runs as its own process and is fed two ways: by the OTel SDK's OTLP/HTTP exporter in one or
more sender processes (what users run; on a small machine the SDK itself is the limit), and by a lean client that
posts pre-encoded requests (exactly what the SDK's exporter sends) over a few connections, which measures the
receiver's own capacity. The CPU per span of the receiver process and of its writer child is read from ``/proc``
(Linux) over the sending alone.

    python bench/ingest.py [in-process] [sdk] [lean]
"""

from __future__ import annotations

import http.client
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).parent))
import spanlite
from _common import TRACES_PATH, Serve, machine, table
from spanlite.store import TraceStore

SPANS = 60_000
HELD = 500_000  # spans already in the store for the last run: index pages no longer all fit in the cache
SPANS_PER_TRACE = 10
TRACES_PER_REQUEST = 50  # 500 spans a request; the SDK's BatchSpanProcessor exports up to 512
ROUNDS = 3
SENDER = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1]), max_queue_size=200_000))
tracer = provider.get_tracer("sender")
for t in range(int(sys.argv[2]) // 10):
    with tracer.start_as_current_span("root", attributes={"input.value": "question %d" % t}):
        for s in range(9):
            with tracer.start_as_current_span("child", attributes={"llm.model_name": "gpt-4o"}):
                pass
provider.shutdown()
"""
_PROTOBUF = {"Content-Type": "application/x-protobuf"}


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
            "yes" if accounted == SPANS else f"NO ({accounted:,})", f"{rss_growth:.0f}", "-", "-")  # fmt: skip


class Run(NamedTuple):
    """One pass of ``SPANS`` spans through ``spanlite serve``; CPU in seconds."""

    stored: int
    elapsed: float
    receiver_cpu: float
    writer_cpu: float
    sender_cpu: float


def sdk_senders(processes: int) -> Run:
    serve = Serve()
    cpu, start = serve.cpu_seconds(), time.perf_counter()
    senders = [
        subprocess.Popen([sys.executable, "-c", SENDER, serve.endpoint, str(SPANS // processes)])
        for _ in range(processes)
    ]
    sender_cpu = 0.0
    for sender in senders:
        _, status, usage = os.wait4(sender.pid, 0)
        sender.returncode = os.waitstatus_to_exitcode(status)
        assert sender.returncode == 0, "a sender failed"
        sender_cpu += usage.ru_utime + usage.ru_stime
    elapsed, (receiver_cpu, writer_cpu) = time.perf_counter() - start, _minus(serve.cpu_seconds(), cpu)
    return Run(serve.stop(), elapsed, receiver_cpu, writer_cpu, sender_cpu)


def lean_client(connections: int, bodies: list[bytes], held: Path | None = None) -> Run:
    serve = Serve(held)
    queue = iter(bodies)
    lock = threading.Lock()
    failures: list[str] = []

    def post_all() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=60)
        while True:
            with lock:
                body = next(queue, None)
            if body is None:
                break
            conn.request("POST", TRACES_PATH, body=body, headers=_PROTOBUF)
            response = conn.getresponse()
            if response.read() != b"" or response.status != 200:  # an empty ExportTraceServiceResponse
                failures.append(f"HTTP {response.status}")
        conn.close()

    client = [threading.Thread(target=post_all) for _ in range(connections)]
    cpu, client_cpu, start = serve.cpu_seconds(), time.process_time(), time.perf_counter()
    for thread in client:
        thread.start()
    for thread in client:
        thread.join()
    elapsed, (receiver_cpu, writer_cpu) = time.perf_counter() - start, _minus(serve.cpu_seconds(), cpu)
    client_cpu = time.process_time() - client_cpu
    assert not failures, failures[:3]
    return Run(serve.stop(), elapsed, receiver_cpu, writer_cpu, client_cpu)


def _minus(after: tuple[float, float], before: tuple[float, float]) -> tuple[float, float]:
    return after[0] - before[0], after[1] - before[1]


def through_serve(label: str, run: Callable[[], Run]) -> tuple[str, ...]:
    """Median of ``ROUNDS`` runs, each on a fresh store (or a fresh copy of one); every run must store every span."""
    runs = [run() for _ in range(ROUNDS)]
    lost = [r.stored for r in runs if r.stored != SPANS]

    def us(seconds: Callable[[Run], float]) -> str:
        return f"{statistics.median(seconds(r) for r in runs) / SPANS * 1e6:.0f}"

    cpu = f"{us(lambda r: r.receiver_cpu)} + {us(lambda r: r.writer_cpu)}"
    spans_per_s = statistics.median(r.stored / r.elapsed for r in runs)
    accounted = "yes" if not lost else f"NO ({lost})"
    return (label, f"{spans_per_s:,.0f}", f"{SPANS:,} × {ROUNDS}", "0", accounted, "-", cpu,
            us(lambda r: r.sender_cpu))  # fmt: skip


def encoded_requests(spans: int, *, seed: int = 0, shift: int = 0) -> Iterator[bytes]:
    """Protobuf ``ExportTraceServiceRequest`` bodies as the SDK's exporter encodes them, every id unique.

    One request is made by the real SDK; the others are copies with new ids (parents follow their spans), which
    costs far less than running the SDK for every span. The ids are random, as the SDK's are: sequential ids would
    land every insert at the end of the store's id indexes, which real traffic never does. Each copy is moved
    later in time by the template's own length, as a sender's spans are: copies at the same times would put every
    insert into the time indexes at a random place among the earlier copies' entries. ``shift``: how many
    requests' lengths to move them all by.
    """
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("sender")
    for t in range(TRACES_PER_REQUEST):
        with tracer.start_as_current_span("root", attributes={"input.value": f"question {t}"}):
            for _ in range(SPANS_PER_TRACE - 1):
                with tracer.start_as_current_span("child", attributes={"llm.model_name": "gpt-4o"}):
                    pass
    finished = memory.get_finished_spans()
    template = encode_spans(finished)
    length = max(s.end_time for s in finished) - min(s.start_time for s in finished)  # type: ignore[type-var]
    per_request = TRACES_PER_REQUEST * SPANS_PER_TRACE
    rng = random.Random(seed)
    for n in range(shift, shift + spans // per_request):
        request = ExportTraceServiceRequest()
        request.CopyFrom(template)
        trace_ids: dict[bytes, bytes] = {}
        span_ids: dict[bytes, bytes] = {}
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    span.trace_id = trace_ids.setdefault(span.trace_id, rng.randbytes(16))
                    span.span_id = span_ids.setdefault(span.span_id, rng.randbytes(8))
                    if span.parent_span_id:
                        span.parent_span_id = span_ids.setdefault(span.parent_span_id, rng.randbytes(8))
                    span.start_time_unix_nano += n * length
                    span.end_time_unix_nano += n * length
        yield request.SerializeToString()


def held_store(spans: int) -> Path:
    """A store already holding ``spans`` spans, all from before the measured ones, written straight in."""
    from spanlite.otlp._decode import decode_protobuf
    from spanlite.store._db import open_connection
    from spanlite.store._rows import decoded_span_row
    from spanlite.store._writer import write_spans

    path = Path(tempfile.mkdtemp()) / "held.db"
    conn = open_connection(path)
    requests = spans // (TRACES_PER_REQUEST * SPANS_PER_TRACE)
    for body in encoded_requests(spans, seed=1, shift=-requests):
        write_spans(conn, [decoded_span_row(span) for span in decode_protobuf(body)])
    conn.close()
    return path


def main() -> None:
    which = set(sys.argv[1:]) or {"in-process", "sdk", "lean"}
    rows = [("path", "spans/s", "stored", "dropped", "all accounted", "peak RSS growth MB",
             "receiver + writer process CPU µs/span", "sender CPU µs/span")]  # fmt: skip
    if "in-process" in which:
        rows += [in_process(None), in_process(2_000)]
    if "sdk" in which:
        for n in (1, 2):
            label = f"OTel SDK ({n} sender process{'es' if n > 1 else ''}) → spanlite serve → SQLite"
            rows.append(through_serve(label, partial(sdk_senders, n)))
    if "lean" in which:
        bodies = list(encoded_requests(SPANS))
        for n in (1, 4):
            label = f"pre-encoded requests ({n} connection{'s' if n > 1 else ''}) → spanlite serve → SQLite"
            rows.append(through_serve(label, partial(lean_client, n, bodies)))
        held = held_store(HELD)
        label = f"pre-encoded requests (4 connections) → spanlite serve → SQLite holding {HELD:,} spans"
        rows.append(through_serve(label, partial(lean_client, 4, bodies, held)))
        shutil.rmtree(held.parent)
    print(table(rows))
    print(
        f"\n{SPANS:,} spans in traces of {SPANS_PER_TRACE}, {TRACES_PER_REQUEST * SPANS_PER_TRACE} a request "
        f"through serve (medians of {ROUNDS} runs); target ≥ 20,000 spans/s; {machine()}"
    )


if __name__ == "__main__":
    main()
