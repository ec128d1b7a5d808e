"""A trace with a failed span is an error trace, whatever its root says: the CLI, the query API and the viewer's
error filter find every one, and the trace list shows how many spans failed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

import spanlite
from _helpers import app, cli, row, write_as_before
from spanlite.otlp import Receiver, start_receiver
from spanlite.store import TraceStore


@dataclasses.dataclass(frozen=True)
class Sent:
    unset_root: str  # the root left its status UNSET, as OTel instrumentation does; a child failed
    ok_root: str  # the root said OK; a child failed
    failed_root: str
    clean: str
    rootless: str  # a child failed and the root never arrived


def _hex(span: object) -> str:
    return format(span.get_span_context().trace_id, "032x")  # type: ignore[attr-defined]


@pytest.fixture
def receiver(db_path: Path) -> Iterator[Receiver]:
    with start_receiver(db_path) as r:  # into the store the viewer and the CLI read
        yield r


@pytest.fixture
def sent(receiver: Receiver) -> Sent:
    """Traces from the real OTel SDK through its OTLP/HTTP exporter to the real receiver."""
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
    tracer = provider.get_tracer("orders.worker")
    with tracer.start_as_current_span("unset-root") as unset_root:
        with tracer.start_as_current_span("charge") as child:
            child.set_status(Status(StatusCode.ERROR, "card declined"))
    with tracer.start_as_current_span("ok-root") as ok_root:
        ok_root.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("retry-1") as child:
            child.set_status(Status(StatusCode.ERROR, "timeout"))
        with tracer.start_as_current_span("retry-2"):
            pass
    with tracer.start_as_current_span("failed-root") as failed_root:
        failed_root.set_status(Status(StatusCode.ERROR, "boom"))
    with tracer.start_as_current_span("clean-root") as clean:
        with tracer.start_as_current_span("step"):
            pass
    rootless = tracer.start_span("still-running")  # never ended: never sent
    with tracer.start_as_current_span("failed-step", context=_context_of(rootless)) as child:
        child.set_status(Status(StatusCode.ERROR, "crashed"))
    provider.shutdown()
    return Sent(_hex(unset_root), _hex(ok_root), _hex(failed_root), _hex(clean), _hex(rootless))


def _context_of(span: object) -> object:
    from opentelemetry import trace

    return trace.set_span_in_context(span)  # type: ignore[arg-type]


def failing(sent: Sent) -> set[str]:
    return {sent.unset_root, sent.ok_root, sent.failed_root, sent.rootless}


def test_the_query_api_finds_every_trace_with_a_failed_span(sent: Sent, db_path: Path) -> None:
    with TraceStore(db_path) as store:
        assert {t.trace_id for t in store.search_traces(status="ERROR")} == failing(sent)
        assert store.count_traces(status="ERROR") == 4
        assert {t.trace_id for t in store.search_traces(status="OK")} == {sent.clean}
        assert {t.trace_id for t in store.search_traces(status="IN_PROGRESS")} == {sent.rootless}
        # Each trace keeps its own outcome beside how many of its spans failed.
        by_id = {t.trace_id: t for t in store.iter_traces()}
    assert (by_id[sent.unset_root].status, by_id[sent.unset_root].error_count) == ("OK", 1)
    assert (by_id[sent.ok_root].status, by_id[sent.ok_root].error_count) == ("OK", 1)
    assert (by_id[sent.failed_root].status, by_id[sent.failed_root].error_count) == ("ERROR", 1)
    assert (by_id[sent.rootless].status, by_id[sent.rootless].error_count) == ("IN_PROGRESS", 1)
    assert by_id[sent.clean].error_count == 0


def test_the_cli_finds_every_trace_with_a_failed_span(sent: Sent, db_path: Path) -> None:
    listed = cli("traces", "list", "--status", "ERROR", "--json", db=db_path)
    assert listed.returncode == 0, listed.stderr
    assert {json.loads(line)["trace_id"] for line in listed.stdout.splitlines()} == failing(sent)
    table = cli("traces", "list", "--status", "ERROR", db=db_path)
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert "ERRORS" in header
    unset = next(line for line in lines if line.startswith(sent.unset_root))
    assert unset.split()[5:7] == ["OK", "1"]  # after the start (date, time, zone): the root's outcome, the failed spans


def test_the_viewer_error_filter_and_list_show_every_trace_with_a_failed_span(sent: Sent) -> None:
    at = app()
    listed = at.dataframe[0].value.set_index("Trace ID")
    assert listed.loc[sent.unset_root, "Errors"] == 1 and listed.loc[sent.clean, "Errors"] == 0
    at.selectbox(key="f_status").select("ERROR").run()
    assert set(at.dataframe[0].value["Trace ID"]) == failing(sent)
    at.selectbox(key="f_status").select("OK").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [sent.clean]


def test_spanlites_own_trace_that_recovered_from_a_failure_is_found() -> None:
    @spanlite.trace
    def flaky() -> None:
        raise KeyError("x")

    @spanlite.trace
    def recovers() -> str:
        try:
            flaky()
        except KeyError:
            return "recovered"
        return "no"

    @spanlite.trace
    def fine() -> str:
        return "fine"

    assert recovers() == "recovered" and fine() == "fine"
    spanlite.flush()
    assert [t.name for t in spanlite.search_traces(status="ERROR")] == ["recovers"]
    assert [t.name for t in spanlite.search_traces(status="OK")] == ["fine"]


def test_the_error_filter_walks_an_index_newest_first(db_path: Path) -> None:
    with TraceStore(db_path) as store:
        plan = store.rows(
            "EXPLAIN QUERY PLAN SELECT t.* FROM traces t WHERE t.error_count > 0 ORDER BY t.start_ns DESC LIMIT 51"
        )
    details = " ".join(p["detail"] for p in plan)
    assert "USING INDEX idx_traces_errors_start_ns" in details and "TEMP B-TREE" not in details


def test_an_older_store_finds_its_recovered_traces_once_upgraded(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store._migrations import NAMES, registry

    path = tmp_path / "old.db"
    old = Database(path)
    registry().apply(old, stop_before=NAMES[NAMES.index("m007_spans_keyed_by_trace") + 1])  # as spanlite made it
    write_as_before(old.conn, [row("t1", "r1", None, 100), row("t1", "c1", "r1", 110, status="ERROR")])
    write_as_before(old.conn, [row("t2", "r2", None, 200)])
    old.close()
    with TraceStore(path) as store:
        assert [t.trace_id for t in store.search_traces(status="ERROR")] == ["t1"]
        assert [t.trace_id for t in store.search_traces(status="OK")] == ["t2"]
