"""The OTLP/HTTP receiver: the real OTel exporter in, the store out; bad bodies are refused whole."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from _helpers import JSON, PROTOBUF, TRACE_ID, json_body, json_span, post, sdk_body
from spanlite.otlp import Receiver, start_receiver
from spanlite.store import TraceStore


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with start_receiver(tmp_path / "received.db", max_body_bytes=256 * 1024) as r:
        yield r


def stored(receiver: Receiver) -> list[dict[str, Any]]:
    with TraceStore(receiver.db_path) as store:
        return [dict(r) for r in store.db.query("SELECT * FROM spans ORDER BY start_ns")]


def error_message(content_type: str, body: bytes) -> str:
    if content_type == PROTOBUF:
        return status_pb2.Status.FromString(body).message
    return orjson.loads(body)["message"]


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate])
def test_the_otel_sdk_exporter_sends_a_whole_trace(receiver: Receiver, compression: Compression) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    otlp = OTLPSpanExporter(endpoint=receiver.endpoint, compression=compression)
    provider.add_span_processor(SimpleSpanProcessor(otlp))
    tracer = provider.get_tracer("billing.worker")
    with tracer.start_as_current_span("charge", attributes={"amount": 12.5, "currency": "EUR"}) as root:
        with tracer.start_as_current_span("fraud-check") as check:
            check.add_event("scored", {"score": 3})
        with tracer.start_as_current_span("card-api") as call:
            call.set_status(Status(StatusCode.ERROR, "declined"))
    provider.shutdown()

    sent = {format(s.context.span_id, "016x"): s for s in memory.get_finished_spans()}
    rows = {r["span_id"]: r for r in stored(receiver)}
    assert rows.keys() == sent.keys()
    trace_id = format(root.get_span_context().trace_id, "032x")
    root_id = format(root.get_span_context().span_id, "016x")
    for span_id, span in sent.items():
        row = rows[span_id]
        assert row["trace_id"] == trace_id
        assert row["parent_id"] == (format(span.parent.span_id, "016x") if span.parent else None)
        assert (row["name"], row["start_ns"], row["end_ns"]) == (span.name, span.start_time, span.end_time)
        assert orjson.loads(row["attributes"]) == {
            **dict(span.attributes or {}), "otel.scope.name": "billing.worker", "service.name": "billing",
        }  # fmt: skip
    assert rows[root_id]["parent_id"] is None
    card = next(r for r in rows.values() if r["name"] == "card-api")
    assert (card["status"], card["status_message"]) == ("ERROR", "declined")
    scored = orjson.loads(next(r for r in rows.values() if r["name"] == "fraud-check")["events"])
    assert [(e["name"], e["attributes"]) for e in scored] == [("scored", {"score": 3})]

    with TraceStore(receiver.db_path) as store:
        trace = store.get_trace(trace_id)
    assert trace is not None
    assert (trace.info.name, trace.info.span_count, trace.info.error_count) == ("charge", 3, 1)
    assert trace.info.root_span_id == root_id


def test_otlp_json_body(receiver: Receiver) -> None:
    status, content_type, body = post(receiver, json_body(json_span()), JSON)
    assert (status, content_type, orjson.loads(body)) == (200, JSON, {})
    [row] = stored(receiver)
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert (row["trace_id"], row["parent_id"], row["status"], row["status_message"]) == (
        TRACE_ID, None, "ERROR", "upstream timeout",
    )  # fmt: skip
    assert (row["start_ns"], row["end_ns"]) == (1_700_000_000_000_000_000, 1_700_000_000_250_000_000)
    assert orjson.loads(row["attributes"]) == {
        "http.route": "/ask", "retries": 3, "ratio": 0.5, "ok": True, "tags": ["a", "b"],
        "otel.scope.name": "my.lib", "otel.span.kind": "SERVER", "service.name": "checkout",
    }  # fmt: skip
    assert orjson.loads(row["events"]) == [{"name": "retry", "time_ns": 1_700_000_000_100_000_000, "attributes": {}}]


def test_json_with_snake_case_names_and_unknown_fields(receiver: Receiver) -> None:
    span = {"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7", "name": "s", "future_field": 1}
    body = orjson.dumps({"resource_spans": [{"scope_spans": [{"spans": [span]}]}]})
    assert post(receiver, body, JSON)[0] == 200
    assert [r["span_id"] for r in stored(receiver)] == ["00f067aa0ba902b7"]


def test_gzip_and_chunked_bodies(receiver: Receiver) -> None:
    gzipped = gzip.compress(json_body(json_span("1111111111111111")))
    assert post(receiver, gzipped, JSON, {"Content-Encoding": "gzip"})[0] == 200
    raw = sdk_body(3)
    chunks = iter([raw[:5], raw[5:40], raw[40:]])  # no Content-Length: http.client sends it chunked
    status, content_type, body = post(receiver, chunks, PROTOBUF)
    assert (status, content_type, body) == (200, PROTOBUF, b"")
    deflated = iter([zlib.compress(json_body(json_span("2222222222222222")))])
    assert post(receiver, deflated, JSON, {"Content-Encoding": "deflate"})[0] == 200
    assert len(stored(receiver)) == 5


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"\x0a\x05\x0a\x03\xff", PROTOBUF, "not a protobuf ExportTraceServiceRequest"),
        (b'{"resourceSpans": [', JSON, "not valid JSON"),
        (b"[1, 2]", JSON, "must be a JSON object"),
        (b'{"resourceSpans": 5}', JSON, "not an OTLP/JSON ExportTraceServiceRequest"),
        (json_body(json_span(), json_span("zz19b7ec3c1b1740")), JSON, "spans[1].spanId is not hex"),
        (json_body(json_span(), json_span("abcdef")), JSON, "spans[1].spanId must be 8 bytes"),
        (json_body(json_span(), json_span("0000000000000000")), JSON, "spans[1].spanId must be 8 bytes"),
        (json_body(json_span(), json_span(parent="abcd")), JSON, "spans[1].parentSpanId must be 8 bytes"),
    ],
)
def test_malformed_bodies_are_400_and_store_nothing(
    receiver: Receiver, body: bytes, content_type: str, expected: str
) -> None:
    status, reply_type, reply = post(receiver, body, content_type)
    assert (status, reply_type) == (400, content_type)
    assert expected in error_message(reply_type, reply)
    assert stored(receiver) == []
    assert post(receiver, sdk_body(), PROTOBUF)[0] == 200  # and it keeps serving


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"x" * (256 * 1024 + 1), {}, 413),
        (iter([b"x" * 200_000, b"x" * 200_000]), {}, 413),  # chunked
        (gzip.compress(b"\0" * 50_000_000), {"Content-Encoding": "gzip"}, 413),  # a 50 MB gzip bomb
        (gzip.compress(sdk_body())[:-10], {"Content-Encoding": "gzip"}, 400),  # truncated
        (b"not gzip", {"Content-Encoding": "gzip"}, 400),
        (sdk_body(), {"Content-Encoding": "br"}, 415),
        (sdk_body(), {"Content-Type": "text/plain"}, 415),
    ],
)
def test_oversized_and_undecodable_bodies(receiver: Receiver, body: Any, headers: dict[str, str], status: int) -> None:
    assert post(receiver, body, PROTOBUF, headers)[0] == status
    assert stored(receiver) == []
    assert post(receiver, sdk_body(), PROTOBUF)[0] == 200


def test_other_paths_and_methods(receiver: Receiver) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    conn.request("POST", "/v1/metrics", body=b"", headers={"Content-Type": PROTOBUF})
    assert conn.getresponse().status == 404
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    conn.request("GET", "/v1/traces")
    assert conn.getresponse().status == 405
    conn.close()


def test_keep_alive_connection_serves_many_requests(receiver: Receiver) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    for _ in range(3):
        conn.request("POST", "/v1/traces", body=sdk_body(), headers={"Content-Type": PROTOBUF})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    conn.close()
    assert len(stored(receiver)) == 6


def test_a_body_sent_twice_is_stored_once(receiver: Receiver) -> None:
    body = sdk_body(3)
    assert post(receiver, body)[0] == 200
    assert post(receiver, body)[0] == 200  # an exporter's retry after a lost response
    assert len(stored(receiver)) == 3
    with TraceStore(receiver.db_path) as store:
        [summary] = store.search_traces()
    assert summary.span_count == 3


def test_spans_are_written_in_process_once_the_writer_process_dies(receiver: Receiver) -> None:
    writer = receiver.writer_pid
    assert writer is not None and writer != os.getpid()
    assert post(receiver, sdk_body(2))[0] == 200
    os.kill(writer, signal.SIGKILL)
    assert post(receiver, sdk_body(3))[0] == 200
    assert receiver.writer_pid is None
    assert len(stored(receiver)) == 5


def test_the_writer_process_stores_the_rows_the_receiver_would(tmp_path: Path) -> None:
    """Rows are built and redacted in the receiver; what its writer child stores is what it would store itself."""
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz"
    root = json_span("aaaaaaaaaaaaaaaa")
    root["attributes"] += [
        {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
        {"key": "input.value", "value": {"stringValue": f"use {key}"}},
        {"key": "llm.model_name", "value": {"stringValue": "gpt-4o"}},
        {"key": "session.id", "value": {"stringValue": "s-1"}},
    ]
    body = json_body(root, json_span("bbbbbbbbbbbbbbbb", parent="aaaaaaaaaaaaaaaa"))
    stores = []
    for name, child_dies in (("child.db", False), ("in_process.db", True)):
        with start_receiver(tmp_path / name) as receiver:
            writer = receiver.writer_pid
            assert writer is not None
            if child_dies:
                os.kill(writer, signal.SIGKILL)
            assert post(receiver, body, JSON)[0] == 200
            assert (receiver.writer_pid is None) is child_dies
        with TraceStore(tmp_path / name) as store:
            stores.append([[dict(r) for r in store.db.query(f"SELECT * FROM {t}")] for t in ("spans", "traces")])
    assert stores[0] == stores[1]
    [spans, [trace]] = stores[0]
    assert len(spans) == 2 and trace["session_id"] == "s-1"
    assert {s["model"] for s in spans} == {"gpt-4o", None}
    assert key not in str(stores[0]) and "[REDACTED" in str(spans)


def test_values_beyond_sqlites_integers_are_stored_with_the_rest_of_their_batch(receiver: Receiver) -> None:
    """OTLP times are unsigned 64-bit, SQLite's integers signed: such a span is stored clamped, not a 503 forever."""
    int64_max, uint64_max = 2**63 - 1, 2**64 - 1
    odd = json_span("bbbbbbbbbbbbbbbb", parent="aaaaaaaaaaaaaaaa", startTimeUnixNano=str(uint64_max))
    odd["endTimeUnixNano"] = str(uint64_max)
    odd["events"][0]["timeUnixNano"] = str(uint64_max)
    odd["attributes"] += [
        {"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "1" * 30}},
        {"key": "gen_ai.usage.output_tokens", "value": {"doubleValue": 1e300}},
    ]
    tokens = [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(int64_max)}}]
    llm_1, llm_2 = (json_span(s, parent="aaaaaaaaaaaaaaaa") for s in ("cccccccccccccccc", "dddddddddddddddd"))
    llm_1["attributes"] += tokens  # each count fits; their sum does not
    llm_2["attributes"] += tokens
    status, _, reply = post(receiver, json_body(json_span("aaaaaaaaaaaaaaaa"), odd, llm_1, llm_2), JSON)
    assert status == 200, reply
    spans = {r["span_id"]: r for r in stored(receiver)}
    assert len(spans) == 4
    odd_row = spans["bbbbbbbbbbbbbbbb"]
    assert (odd_row["start_ns"], odd_row["end_ns"]) == (int64_max, int64_max)
    assert (odd_row["input_tokens"], odd_row["output_tokens"]) == (None, None)
    attributes = orjson.loads(odd_row["attributes"])
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == ("1" * 30, 1e300)
    assert orjson.loads(odd_row["events"])[0]["time_ns"] == uint64_max  # JSON holds it
    with TraceStore(receiver.db_path) as store:
        [summary] = store.search_traces()
    assert (summary.span_count, summary.input_tokens) == (4, int64_max)


@pytest.mark.parametrize("writer", ["child", "in-process"])
def test_lone_surrogate_escapes_are_stored_as_replacement_characters(receiver: Receiver, writer: str) -> None:
    """JSON may escape a lone surrogate (no UTF-8 can hold it): the span is stored with U+FFFD, its batch with it."""
    if writer == "in-process":
        os.kill(receiver.writer_pid or 0, signal.SIGKILL)
        assert post(receiver, sdk_body(1))[0] == 200 and receiver.writer_pid is None
    odd = json_span("bbbbbbbbbbbbbbbb", parent="aaaaaaaaaaaaaaaa", name="bad\ud800")
    odd["attributes"] += [
        {"key": "note\udc00", "value": {"stringValue": "x\ud800y"}},
        {"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
        {"key": "input.value", "value": {"stringValue": "in\ud800"}},
        {"key": "session.id", "value": {"stringValue": "s\ud800"}},
    ]
    odd["status"]["message"] = "failed\ud800"
    odd["events"][0]["name"] = "retry\ud800"
    request = orjson.loads(json_body(json_span("aaaaaaaaaaaaaaaa")))
    request["resourceSpans"][0]["scopeSpans"][0]["spans"].append(odd)
    body = json.dumps(request)  # the stdlib writes a lone surrogate as an escape, as JSON allows
    assert "\\ud800" in body and "\\udc00" in body
    status, _, reply = post(receiver, body.encode(), JSON)
    assert status == 200, reply
    spans = {r["span_id"]: r for r in stored(receiver)}
    assert {"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"} <= set(spans)
    row = spans["bbbbbbbbbbbbbbbb"]
    assert (row["name"], row["status_message"]) == ("bad\ufffd", "failed\ufffd")
    assert orjson.loads(row["inputs"]) == "in\ufffd"
    assert orjson.loads(row["attributes"])["note\ufffd"] == "x\ufffdy"
    assert orjson.loads(row["events"])[0]["name"] == "retry\ufffd"
    with TraceStore(receiver.db_path) as store:
        [summary] = store.search_traces(session_id="s\ufffd")
    assert summary.span_count == 2


@pytest.mark.parametrize("writer", ["child", "in-process"])
def test_spans_that_can_never_be_stored_are_a_400_not_a_503(receiver: Receiver, writer: str) -> None:
    """A 503 is retried by senders, forever for spans that fail the same way each time: those are a 400."""
    if writer == "in-process":
        os.kill(receiver.writer_pid or 0, signal.SIGKILL)
        assert post(receiver, sdk_body(1))[0] == 200 and receiver.writer_pid is None
    deep = '{"a":' * 300 + "1" + "}" * 300  # trace metadata nested deeper than orjson writes
    odd = json_span(attributes=[{"key": "spanlite.trace.metadata", "value": {"stringValue": deep}}])
    status, reply_type, reply = post(receiver, json_body(odd), JSON)
    assert (status, reply_type) == (400, JSON)
    assert "these spans cannot be stored" in error_message(reply_type, reply)
    assert post(receiver, json_body(json_span("bbbbbbbbbbbbbbbb")), JSON)[0] == 200  # and it keeps serving


def test_expect_100_continue_is_answered_before_the_body(receiver: Receiver) -> None:
    body = sdk_body()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
        head = (
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 100")  # without it, the client would wait (curl: 1 s)
        assert reader.readline() == b"\r\n"
        sock.sendall(body)
        assert reader.readline().startswith(b"HTTP/1.1 200")
    assert len(stored(receiver)) == 2


_VALID = sdk_body(3)
_json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_json_values = st.recursive(
    _json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4), max_leaves=20
)
# JSON shaped like OTLP, so that fuzzing reaches past the first ``ParseDict`` check
_otlp_keys = st.sampled_from([
    "resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "attributes", "key", "value",
    "stringValue", "intValue", "kvlistValue", "arrayValue", "values", "events", "status", "code",
])  # fmt: skip
_otlp_like = st.recursive(
    _json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(_otlp_keys, c, max_size=4), max_leaves=25
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # stdlib: integers beyond 64 bits too


def _mutations() -> st.SearchStrategy[bytes]:
    positions = st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6)

    def mutate(changes: list[tuple[int, int]]) -> bytes:
        body = bytearray(_VALID)
        for position, value in changes:
            body[position] = value
        return bytes(body)

    return positions.map(mutate)


def test_fuzzed_bodies_never_break_the_receiver(tmp_path: Path) -> None:
    statuses: set[int] = set()
    with start_receiver(tmp_path / "fuzz.db") as receiver:

        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(
            body=st.binary(max_size=600) | _mutations() | _json_values.map(_dumps) | _otlp_like.map(_dumps),
            content_type=st.sampled_from([PROTOBUF, JSON]),
            gzipped=st.booleans(),
        )
        def check(body: bytes, content_type: str, gzipped: bool) -> None:
            headers = {"Content-Encoding": "gzip"} if gzipped else {}
            status, _, reply = post(receiver, gzip.compress(body) if gzipped else body, content_type, headers)
            assert status in (200, 400), reply
            statuses.add(status)

        check()
        assert post(receiver, sdk_body(), PROTOBUF)[0] == 200
    assert statuses == {200, 400}
