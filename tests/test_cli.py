"""The spanlite command, run as a user would run it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanlite
from _helpers import cli
from spanlite.store import TraceStore


def test_list_show_search_export_delete(db_path: Path, tmp_path: Path) -> None:
    @spanlite.trace(kind="AGENT")
    def agent(question: str) -> str:
        spanlite.update_current_trace(tags=["cli"], session_id="s-9")
        with spanlite.start_span("lookup", kind="TOOL", inputs={"q": question}) as span:
            span.set_outputs("found the platypus")
        return "done"

    agent("where is the platypus?")
    agent("second question")
    spanlite.flush()

    listing = cli("traces", "list", db=db_path)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("agent") == 2 and "TRACE ID" in listing.stdout

    found = cli("traces", "search", "where", "platypus", "--json", db=db_path)
    (line,) = found.stdout.splitlines()
    trace_id = json.loads(line)["trace_id"]
    assert json.loads(line)["tags"] == ["cli"]

    shown = cli("traces", "show", trace_id, db=db_path)
    assert "AGENT      agent" in shown.stdout and "  TOOL       lookup" in shown.stdout
    whole = json.loads(cli("traces", "show", trace_id, "--json", db=db_path).stdout)
    assert [s["name"] for s in whole["spans"]] == ["agent", "lookup"]

    out = tmp_path / "export.jsonl"
    exported = cli("traces", "export", "--session", "s-9", "-o", str(out), db=db_path)
    assert exported.returncode == 0 and "exported 2 traces" in exported.stderr
    assert len(out.read_text().splitlines()) == 2

    assert cli("traces", "delete", trace_id, db=db_path).stdout == "deleted 1 trace\n"
    assert json.loads(cli("stats", "--json", db=db_path).stdout)["traces"] == 1


def test_db_flag_before_the_command_and_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "--db", str(missing), "traces", "list"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"no trace store at {missing}" in result.stderr
    assert not missing.exists()
    bad = cli("traces", "list", "--since", "yesterday-ish", db=missing)
    assert bad.returncode == 2 and "not an ISO date/time" in bad.stderr
    assert cli("traces", "delete", db=missing).returncode == 2  # neither ids nor --before: a usage error


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_on_a_signal_even_with_sigint_ignored_at_start(tmp_path: Path, signum: int) -> None:
    """``spanlite serve &`` from a script starts with SIGINT ignored; serve still stops on it, keeping every span."""
    db = tmp_path / "served.db"
    command = [sys.executable, "-m", "spanlite.cli", "serve", "--port", "0", "--db", str(db)]
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    ) as server:  # fmt: skip
        try:
            assert server.stderr is not None
            banner = server.stderr.readline()
            port = int(re.search(r"127\.0\.0\.1:(\d+)/v1/traces", banner).group(1))  # type: ignore[union-attr]
            memory = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(memory))
            for name in ("first", "second"):
                with provider.get_tracer("t").start_as_current_span(name):
                    pass
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
            for span in memory.get_finished_spans():  # two requests, each answered once committed
                assert exporter.export([span]) is SpanExportResult.SUCCESS
            exporter.shutdown()
            server.send_signal(signum)
            assert server.wait(timeout=60) == 0
            assert "Traceback" not in server.stderr.read()
        finally:
            if server.poll() is None:
                server.kill()
    with TraceStore(db) as store:
        assert sorted(t.name for t in store.search_traces()) == ["first", "second"]
