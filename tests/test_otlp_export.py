"""``configure(otlp_endpoint=...)``: our spans reach an OTLP/HTTP backend (here: our own receiver) as well."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanlite
from otlp_sink import OTLPSink
from spanlite import _config
from spanlite.otlp import Receiver
from spanlite.store import StoreError, TraceStore


@pytest.fixture(autouse=True)
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)


@spanlite.trace(kind="AGENT")
def plan(goal: str) -> list[str]:
    spanlite.update_current_trace(tags=["otlp"], session_id="s-1")
    return [lookup(goal), lookup(goal + "!")]


@spanlite.trace(kind="TOOL")
def lookup(query: str) -> str:
    return query.upper()


def spans_without_scope(path: Path, trace_id: str) -> list[dict[str, Any]]:
    with TraceStore(path) as store:
        trace = store.get_trace(trace_id)
    assert trace is not None
    rows = []
    for span in sorted(trace.spans, key=lambda s: s.start_ns):
        record = dataclasses.asdict(span)
        record["attributes"] = {k: v for k, v in span.attributes.items() if k != "otel.scope.name"}
        rows.append(record)
    return rows


def test_spans_go_to_the_store_and_the_otlp_endpoint(otlp_backend: Receiver, db_path: Path) -> None:
    spanlite.configure(db=db_path, otlp_endpoint=otlp_backend.endpoint)
    with spanlite.start_span("request") as root:
        assert plan("paris") == ["PARIS", "PARIS!"]
    assert spanlite.flush()

    local = spans_without_scope(db_path, root.trace_id)
    remote = spans_without_scope(otlp_backend.db_path, root.trace_id)
    assert [s["name"] for s in local] == ["request", "plan", "lookup", "lookup"]
    assert remote == local  # whole spans, identical: kinds, inputs, outputs, parents, times
    with TraceStore(otlp_backend.db_path) as store:
        [summary] = store.search_traces()
    assert (summary.span_count, summary.tags, summary.session_id) == (4, ["otlp"], "s-1")


def test_endpoint_forms_and_environment(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> None:
    assert spanlite.configure(db=db_path, otlp_endpoint="http://127.0.0.1:9/").otlp_endpoint == (
        "http://127.0.0.1:9/v1/traces"
    )
    assert spanlite.configure(db=db_path, otlp_endpoint="http://h:9/v1/traces").otlp_endpoint == "http://h:9/v1/traces"
    assert spanlite.configure(db=db_path).otlp_endpoint is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    assert spanlite.configure(db=db_path).otlp_endpoint == "http://127.0.0.1:9/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/custom")
    assert spanlite.configure(db=db_path).otlp_endpoint == "http://127.0.0.1:9/custom"
    assert spanlite.configure(db=db_path, otlp_endpoint="http://h:1").otlp_endpoint == "http://h:1/v1/traces"
    spanlite.configure(db=db_path)


def test_environment_variable_turns_export_on(
    otlp_backend: Receiver, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{otlp_backend.port}")
    spanlite.configure(db=db_path)
    lookup("x")
    assert spanlite.flush()
    with TraceStore(otlp_backend.db_path) as store:
        assert [t.name for t in store.search_traces()] == ["lookup"]


def test_otlp_instead_of_the_store(otlp_backend: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "default.db"
    monkeypatch.setenv("SPANLITE_DB", str(default))
    settings = spanlite.configure(db=False, otlp_endpoint=otlp_backend.endpoint)
    assert settings.db is None
    lookup("only remote")
    assert spanlite.flush()
    with pytest.raises(StoreError, match="db=False"):
        spanlite.search_traces()
    assert not default.exists()
    with TraceStore(otlp_backend.db_path) as store:
        assert [t.input_preview for t in store.search_traces()] == ["only remote"]
    with pytest.raises(ValueError, match="otlp_endpoint"):
        spanlite.configure(db=False)


def test_redaction_applies_to_what_leaves_the_process(otlp_backend: Receiver, db_path: Path) -> None:
    spanlite.configure(db=db_path, otlp_endpoint=otlp_backend.endpoint, redact=lambda s: s.replace("hunter2", "***"))
    with spanlite.start_span("login", inputs={"pin": "hunter2", "password": "pw"}) as span:
        span.set_attribute("note", ["hunter2", "ok"])
    assert spanlite.flush()
    for path in (db_path, otlp_backend.db_path):
        with TraceStore(path) as store:
            trace = store.get_trace(span.trace_id)
        assert trace is not None
        [record] = trace.spans
        assert record.inputs == {"pin": "***", "password": "[REDACTED]"}  # the user's redactor and the built-in
        assert record.attributes["note"] == ["***", "ok"]


def test_missing_exporter_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ImportError, match=r"pip install 'spanlite\[otlp\]'"):
        spanlite.configure(db=db_path, otlp_endpoint="http://127.0.0.1:9")
    assert _config.settings().db == db_path  # the previous set-up is still in force


WITHOUT_THE_EXTRA = """
import sys
sys.modules["opentelemetry.exporter.otlp.proto.http.trace_exporter"] = None  # the otlp extra is not installed
import spanlite

@spanlite.trace
def double(x):
    return x * 2

assert [double(i) for i in range(20)] == [i * 2 for i in range(20)]
print("flushed", spanlite.flush())
spanlite.configure(db=sys.argv[1])  # the endpoint is still in the environment
assert [double(i) for i in range(10)] == [i * 2 for i in range(10)]
try:
    spanlite.configure(db=sys.argv[1], otlp_endpoint="http://127.0.0.1:9")  # asked for directly: an error
except ImportError as exc:
    print("ImportError", exc)
assert double(5) == 10
print("flushed", spanlite.flush())
"""


def test_endpoint_in_the_environment_without_the_extra_leaves_the_store_working(tmp_path: Path) -> None:
    default, chosen = tmp_path / "default.db", tmp_path / "chosen.db"
    env = {**os.environ, "SPANLITE_STRICT": "0", "SPANLITE_DB": str(default),
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", WITHOUT_THE_EXTRA, str(chosen)], capture_output=True, text=True,
                            timeout=120, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("flushed True") == 2
    assert "ImportError" in result.stdout and "pip install 'spanlite[otlp]'" in result.stdout
    [warning] = result.stderr.splitlines()  # once, though two set-ups read the environment
    assert "http://127.0.0.1:9/v1/traces" in warning and "pip install 'spanlite[otlp]'" in warning
    for path, spans in ((default, 20), (chosen, 11)):
        with TraceStore(path) as store:
            assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (spans, 0)


BACKEND_DOWN = """
import sys, spanlite
spanlite.configure(db=sys.argv[1], otlp_endpoint=sys.argv[2])
for i in range(100):
    with spanlite.start_span(f"span-{i}"):
        pass
"""


@pytest.mark.parametrize("backend", ["refuses connections", "never answers"])
def test_with_the_backend_down_the_app_ends_in_time_and_the_warning_names_the_backend(
    backend: str, tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:  # listens, and never accepts: requests wait for ever
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}/v1/traces"
        if backend == "refuses connections":
            server.close()  # nobody listens on the port now
        db = tmp_path / "local.db"
        # The exporter's own timeout, a user's setting, raised from 10 s: the end of the app must not wait for it.
        env = {**os.environ, "SPANLITE_STRICT": "0", "OTEL_EXPORTER_OTLP_TIMEOUT": "600"}
        app = subprocess.Popen([sys.executable, "-c", BACKEND_DOWN, str(db), endpoint], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        started.append(app)
        _, err = app.communicate(timeout=25)  # promised: 5 s from the end; the exporter alone would take 25-600 s
    assert app.returncode == 0, err
    with TraceStore(db) as store:
        assert (store.stats()["spans"], store.stats()["dropped_spans"]) == (100, 0), err
    assert f"spanlite dropped 100 spans in this process, bound for the OTLP endpoint {endpoint} (" in err, err
    ours = [line for line in err.splitlines() if line.startswith("spanlite")]
    assert ours and not any("store" in line for line in ours), err  # the local store has every span


@pytest.fixture
def global_provider() -> Iterator[TracerProvider]:
    """The app's own global OTel provider, for this test only (the global is once-only: reset around it)."""
    once = otel_trace._TRACER_PROVIDER_SET_ONCE  # type: ignore[attr-defined]
    before = otel_trace._TRACER_PROVIDER, once._done  # type: ignore[attr-defined]
    otel_trace._TRACER_PROVIDER, once._done = None, False  # type: ignore[attr-defined]
    provider = TracerProvider()
    otel_trace.set_tracer_provider(provider)
    yield provider
    otel_trace._TRACER_PROVIDER, once._done = before  # type: ignore[attr-defined]


def test_the_exporters_own_http_requests_are_not_traced(global_provider: TracerProvider, db_path: Path) -> None:
    """Another instrumentation on the provider spanlite exports from: the OTLP exporter's requests (it posts with
    ``requests``) are never spans, whether the export thread sends them, a flush in the app's own span, or the close
    of a pipeline. Each would be exported in turn, and make another, for as long as the app runs."""
    # Not in the oldest-SDK suite's venv: the requests instrumentation's releases each pin one OTel API release.
    instrumentor = pytest.importorskip("opentelemetry.instrumentation.requests").RequestsInstrumentor()

    theirs = InMemorySpanExporter()
    global_provider.add_span_processor(SimpleSpanProcessor(theirs))
    sink = OTLPSink().start()
    instrumentor.instrument()
    try:
        spanlite.configure(db=db_path, otlp_endpoint=sink.endpoint, use_global_provider=True)
        lookup("sent by the export thread")
        deadline = time.monotonic() + 60
        while not sink.spans and time.monotonic() < deadline:
            time.sleep(0.05)
        with spanlite.start_span("request"):
            lookup("sent by a flush, in the caller's trace")
            assert spanlite.flush()  # from this thread: the request it makes would be a child of "request"
        lookup("sent as configure() closes the pipeline, from this thread")
        spanlite.configure(db=db_path)  # closes the OTLP pipeline while its backend still listens
    finally:
        instrumentor.uninstrument()
        sink.stop()
    ours = ["lookup", "lookup", "lookup", "request"]
    assert sorted(name for name, _ in sink.spans) == ours
    with TraceStore(db_path) as store:
        traces = [store.get_trace(summary.trace_id) for summary in store.search_traces()]
    assert sorted(span.name for trace in traces if trace is not None for span in trace.spans) == ours
    assert sorted(span.name for span in theirs.get_finished_spans()) == ours
