"""W3C trace context: one trace across an HTTP hop, both services writing to the same store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind as OtelSpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import spanlite
from spanlite.otlp import start_receiver
from spanlite.store import TraceStore
from spanlite.tracing import extract_traceparent, inject_traceparent

# Service B, in its own process: an HTTP server that continues the caller's trace and writes the same store.
SERVICE_B = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    import spanlite
    from spanlite.tracing import extract_traceparent

    spanlite.configure(db=sys.argv[1])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            with extract_traceparent(self.headers):
                with spanlite.start_span("inventory.lookup", kind="TOOL", inputs={"sku": "A1"}) as span:
                    span.set_outputs({"in_stock": 3})
            spanlite.flush()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


@pytest.fixture
def service_b(db_path: Path) -> Iterator[str]:
    env = {**os.environ, "SPANLITE_STRICT": "1"}
    with subprocess.Popen([sys.executable, "-c", SERVICE_B, str(db_path)], stdout=subprocess.PIPE, env=env) as process:
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            yield f"http://127.0.0.1:{port}/stock"
        finally:
            process.terminate()


def test_a_trace_spans_two_processes(service_b: str, store: TraceStore) -> None:
    with spanlite.start_span("checkout", kind="CHAIN") as root:
        request = urllib.request.Request(service_b, headers=inject_traceparent({"Accept": "text/plain"}))
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.read() == b"ok"
    assert spanlite.flush()

    trace = store.get_trace(root.trace_id)
    assert trace is not None
    spans = {s.name: s for s in trace.spans}
    assert spans.keys() == {"checkout", "inventory.lookup"}
    assert spans["inventory.lookup"].parent_id == root.span_id
    assert spans["inventory.lookup"].outputs == {"in_stock": 3}
    assert (trace.info.name, trace.info.span_count, trace.info.root_span_id) == ("checkout", 2, root.span_id)


class _Service(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with extract_traceparent(self.headers):
            with spanlite.start_span("answer", kind="AGENT"):
                pass
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def service_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ask"
    server.shutdown()
    server.server_close()


def test_a_foreign_otel_client_and_a_spanlite_server_share_a_trace(
    service_url: str, db_path: Path, store: TraceStore
) -> None:
    """Another app's OTel SDK exports to the receiver; our service continues its trace; one store, one trace."""
    with start_receiver(db_path) as receiver:
        provider = TracerProvider(resource=Resource.create({"service.name": "frontend"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
        tracer = provider.get_tracer("frontend")
        with tracer.start_as_current_span("GET /ask", kind=OtelSpanKind.CLIENT) as client:
            headers: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(headers)
            urllib.request.urlopen(urllib.request.Request(service_url, headers=headers), timeout=10).close()
        provider.shutdown()
        assert spanlite.flush()

    trace_id = format(client.get_span_context().trace_id, "032x")
    trace = store.get_trace(trace_id)
    assert trace is not None
    spans = {s.name: s for s in trace.spans}
    assert spans["answer"].parent_id == format(client.get_span_context().span_id, "016x")
    assert spans["GET /ask"].attributes["service.name"] == "frontend"
    assert (trace.info.name, trace.info.span_count) == ("GET /ask", 2)


def test_inject_and_extract_edges(store: TraceStore) -> None:
    assert inject_traceparent() == {}  # no span, nothing to propagate
    headers = {"Accept": "*/*"}
    with spanlite.start_span("outer") as outer:
        assert inject_traceparent(headers) is headers
        traceparent = headers["traceparent"]
    assert headers["Accept"] == "*/*"
    assert traceparent.split("-")[1:3] == [outer.trace_id, outer.span_id]

    carriers: list[Any] = [
        {"TraceParent": traceparent},  # any letter case
        {"HTTP_TRACEPARENT": traceparent},  # a WSGI environ
        [("traceparent", traceparent)],  # a list of pairs
        {"traceparent": [traceparent]},  # multi-valued
    ]
    for carrier in carriers:
        with extract_traceparent(carrier):
            with spanlite.start_span("inner") as inner:
                assert (inner.trace_id, store_parent(inner)) == (outer.trace_id, outer.span_id)

    for garbage in [{"traceparent": "00-zz-yy-01"}, {"traceparent": 7}, None, {}, [("a", None)]]:
        with extract_traceparent(garbage):
            with spanlite.start_span("fresh") as fresh:
                assert fresh.trace_id != outer.trace_id


def store_parent(span: spanlite.tracing.Span) -> str | None:
    parent = getattr(span.otel_span, "parent", None)
    return format(parent.span_id, "016x") if parent is not None else None
