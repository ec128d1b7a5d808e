"""Span links and resource attributes are kept, for spans received over OTLP and for spanlite's own: stored,
searchable by service, shown by the CLI and on the viewer's Trace page (a link is a link when its trace is here)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, TraceFlags

from _helpers import app, cli, open_page, row, write_as_before
from spanlite.otlp import Receiver, start_receiver
from spanlite.store import TraceStore
from spanlite.store._rows import MAX_ROW_BYTES
from spanlite.store._writer import write_spans
from spanlite.tracing.serialize import MAX_FIELD_BYTES

CHECKOUT = {"service.name": "checkout", "service.version": "1.4.2", "deployment.environment": "staging",
            "host.name": "web-7"}  # fmt: skip
ABSENT_TRACE = "0af7651916cd43dd8448eb211c80319c"  # a trace this store never received
ABSENT_SPAN = "b7ad6b7169203331"


@dataclasses.dataclass(frozen=True)
class Sent:
    producer: str
    producer_span: str
    consumer: str
    consumer_span: str
    billing: str


def _ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


@pytest.fixture
def receiver(db_path: Path) -> Iterator[Receiver]:
    with start_receiver(db_path) as r:  # into the store the viewer and the CLI read
        yield r


def _provider(receiver: Receiver, resource: dict[str, Any]) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
    return provider


@pytest.fixture
def sent(receiver: Receiver) -> Sent:
    """A producer trace, a consumer trace whose span links to it and to a trace this store lacks, and a trace of
    another service: the real OTel SDK through its OTLP/HTTP exporter to the real receiver."""
    checkout = _provider(receiver, CHECKOUT)
    tracer = checkout.get_tracer("checkout.queue")
    with tracer.start_as_current_span("enqueue") as producer:
        pass
    absent = SpanContext(int(ABSENT_TRACE, 16), int(ABSENT_SPAN, 16), is_remote=True, trace_flags=TraceFlags(1))
    links = [Link(producer.get_span_context(), {"messaging.operation": "process"}), Link(absent)]
    with tracer.start_as_current_span("consume", links=links) as consumer:
        with tracer.start_as_current_span("charge"):
            pass
    checkout.shutdown()
    billing = _provider(receiver, {"service.name": "billing"})
    with billing.get_tracer("billing").start_as_current_span("invoice") as invoice:
        pass
    billing.shutdown()
    return Sent(*_ids(producer), *_ids(consumer), _ids(invoice)[0])


def test_received_links_and_resources_are_stored_and_searchable_by_service(sent: Sent, db_path: Path) -> None:
    with TraceStore(db_path) as store:
        trace = store.get_trace(sent.consumer)
        assert trace is not None
        consume = next(s for s in trace.spans if s.name == "consume")
        process = {"messaging.operation": "process"}
        assert consume.links == [
            {"trace_id": sent.producer, "span_id": sent.producer_span, "attributes": process},
            {"trace_id": ABSENT_TRACE, "span_id": ABSENT_SPAN, "attributes": {}},
        ]
        assert all(s.links == [] for s in trace.spans if s is not consume)
        assert CHECKOUT.items() <= consume.resource.items()
        assert consume.resource["telemetry.sdk.language"] == "python"  # every resource attribute, as sent
        assert [r["deployment.environment"] for r in trace.resources] == ["staging"]
        assert "deployment.environment" not in consume.attributes  # the span's own attributes stay its own
        assert {t.trace_id for t in store.search_traces(service="checkout")} == {sent.producer, sent.consumer}
        assert [t.trace_id for t in store.search_traces(service="billing")] == [sent.billing]
        assert store.count_traces(service="nobody") == 0
        assert store.get_trace(sent.billing).resources[0]["service.name"] == "billing"  # type: ignore[union-attr]


def test_the_cli_filters_by_service_and_shows_resource_and_links(sent: Sent, db_path: Path) -> None:
    listed = cli("traces", "list", "--service", "billing", "--json", db=db_path)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["trace_id"] for line in listed.stdout.splitlines()] == [sent.billing]
    shown = cli("traces", "show", sent.consumer, db=db_path)
    assert shown.returncode == 0, shown.stderr
    assert "service.name=checkout" in shown.stdout and "deployment.environment=staging" in shown.stdout
    assert f"link → {sent.producer}/{sent.producer_span}" in shown.stdout
    assert f"link → {ABSENT_TRACE}/{ABSENT_SPAN} (not in this store)" in shown.stdout


def test_the_viewer_filters_by_service_and_shows_resource_and_links(sent: Sent) -> None:
    at = app()
    listed = at.dataframe[0].value.set_index("Trace ID")
    assert listed.loc[sent.consumer, "Service"] == "checkout" and listed.loc[sent.billing, "Service"] == "billing"
    at.selectbox(key="f_service").select("billing").run()
    assert list(at.dataframe[0].value["Trace ID"]) == [sent.billing]

    at = open_page(app(), "trace_page.py", trace=sent.consumer, span=sent.consumer_span)
    resource = next(j.value for j in at.json if "deployment.environment" in j.value)
    assert CHECKOUT.items() <= json.loads(resource).items()
    targets = [link.proto.query_string for link in at.get("page_link")]
    assert f"trace={sent.producer}&span={sent.producer_span}" in targets  # in the store: a link to it
    assert not any(ABSENT_TRACE in target for target in targets)
    assert any(ABSENT_TRACE in t.value and "not in this store" in t.value for t in at.text)


OWN_SPANS = """
import spanlite
from opentelemetry import trace
from opentelemetry.trace import Link

spanlite.configure(use_global_provider=True)  # OTel's API then makes spanlite's spans too

@spanlite.trace
def enqueue():
    return trace.get_current_span().get_span_context()

producer = enqueue()
with trace.get_tracer("worker").start_as_current_span("consume", links=[Link(producer, {"batch": 3})]):
    spanlite.trace(lambda: "done", name="handle")()
print(format(producer.trace_id, "032x"), format(producer.span_id, "016x"))
"""


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_spanlites_own_spans_keep_their_links_and_resource(tmp_path: Path, writer: str) -> None:
    db = tmp_path / "own.db"
    env = {
        **os.environ, "SPANLITE_DB": str(db), "SPANLITE_WRITER": writer, "SPANLITE_STRICT": "0",
        "OTEL_SERVICE_NAME": "agent-api",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.version=2.0.1,host.name=box-1",
    }  # fmt: skip
    done = subprocess.run([sys.executable, "-c", OWN_SPANS], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    producer, producer_span = done.stdout.split()
    with TraceStore(db) as store:
        [consumer] = [t for t in store.search_traces(service="agent-api") if t.trace_id != producer]
        trace = store.get_trace(consumer.trace_id)
    assert trace is not None
    [consume] = [s for s in trace.spans if s.name == "consume"]
    assert consume.links == [{"trace_id": producer, "span_id": producer_span, "attributes": {"batch": 3}}]
    expected = {"service.name": "agent-api", "deployment.environment": "prod", "service.version": "2.0.1",
                "host.name": "box-1"}  # fmt: skip
    assert all(expected.items() <= s.resource.items() for s in trace.spans)
    assert [expected.items() <= r.items() for r in trace.resources] == [True]


def test_secrets_in_resources_and_links_are_not_stored(receiver: Receiver, db_path: Path) -> None:
    key = "sk-proj-" + "Q" * 40
    provider = _provider(receiver, {"service.name": "leaky", "deploy.api_key": "hunter2", "note": f"key {key}"})
    tracer = provider.get_tracer("leaky")
    with tracer.start_as_current_span("first") as first:
        pass
    with tracer.start_as_current_span("second", links=[Link(first.get_span_context(), {"token": key})]):
        pass
    provider.shutdown()
    with TraceStore(db_path) as store:
        [trace] = [t for t in store.search_traces(service="leaky") if t.name == "second"]
        [span] = store.get_trace(trace.trace_id).spans  # type: ignore[union-attr]
    assert span.resource["deploy.api_key"] == "[REDACTED]" and span.resource["note"] == "key [REDACTED]"
    assert span.links[0]["attributes"] == {"token": "[REDACTED]"}
    for path in db_path.parent.glob(db_path.name + "*"):
        data = path.read_bytes()
        assert key.encode() not in data and b"hunter2" not in data, path


def test_links_and_resources_beyond_the_bounds_are_cut_and_counted(receiver: Receiver, db_path: Path) -> None:
    provider = _provider(receiver, {"service.name": "fan-in", "blob": "y" * 1_000_000})
    tracer = provider.get_tracer("fan-in")
    with tracer.start_as_current_span("item") as item:
        pass
    links = [Link(item.get_span_context(), {"n": n, "payload": "x" * 100_000}) for n in range(60)]
    with tracer.start_as_current_span("batch", links=links):
        pass
    provider.shutdown()
    with TraceStore(db_path) as store:
        [trace] = [t for t in store.search_traces(service="fan-in") if t.name == "batch"]
        [span] = store.get_trace(trace.trace_id).spans  # type: ignore[union-attr]
        [sizes] = store.rows(
            "SELECT length(s.links) + length(s.attributes) AS row, length(r.attributes) AS resource FROM spans s "
            "JOIN resources r ON r.id = s.resource_id WHERE s.trace_id = ?",
            [trace.trace_id],
        )
    kept = len(span.links)
    assert 0 < kept < 60 and span.attributes["spanlite.links_left_out"] == 60 - kept
    assert [link["attributes"]["n"] for link in span.links] == list(range(kept))  # the first ones, whole
    assert sizes["row"] <= MAX_ROW_BYTES and sizes["resource"] <= MAX_FIELD_BYTES + 1024
    assert span.resource["blob"].startswith('{"_spanlite_truncated":true')  # cut as any attribute is


def test_an_older_store_upgrades_and_is_searchable_by_the_services_it_kept(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from spanlite.store._migrations import NAMES, registry

    path = tmp_path / "old.db"
    old = Database(path)
    registry().apply(old, stop_before=NAMES[NAMES.index("m007_spans_keyed_by_trace") + 1])  # as spanlite made it
    # Such a store kept a received span's service.name among its attributes, and nothing else of its resource.
    kept = {"service.name": "checkout"}
    write_as_before(old.conn, [row("t1", "s1", None, 100, attributes=kept), row("t2", "s2", None, 200)])
    old.close()
    with TraceStore(path) as store:
        assert [t.trace_id for t in store.search_traces(service="checkout")] == ["t1"]
        assert store.get_trace("t1").resources == [{"service.name": "checkout"}]  # type: ignore[union-attr]
        assert store.get_trace("t2").resources == []  # type: ignore[union-attr]
        linked = row("t3", "s3", None, 300, resource={"service.name": "billing"},
                     links=[{"trace_id": "t1", "span_id": "s1", "attributes": {}}])  # fmt: skip
        write_spans(store.conn, [linked])
        [span] = store.get_trace("t3").spans  # type: ignore[union-attr]
        assert span.links == [{"trace_id": "t1", "span_id": "s1", "attributes": {}}]
        assert [t.trace_id for t in store.search_traces(service="billing")] == ["t3"]
