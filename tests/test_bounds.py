"""Every stored value is bounded, and a span too big to store costs only itself, counted, never its batch."""

from __future__ import annotations

import http.client
import sqlite3
import time
from pathlib import Path

import orjson
import pytest

import spanlite
from spanlite import _config
from spanlite.otlp import start_receiver
from spanlite.store import SpanRecord, TraceStore
from spanlite.store._rows import MAX_ROW_BYTES
from spanlite.tracing.serialize import MAX_FIELD_BYTES, MAX_NAME_BYTES, TRUNCATED_KEY

MB = 1024 * 1024


def store_bytes(db_path: Path) -> int:
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def only_spans() -> list[SpanRecord]:
    assert spanlite.flush()
    traces = [spanlite.get_trace(t.trace_id) for t in spanlite.search_traces()]
    return [s for t in traces if t is not None for s in t.spans]


def test_a_50_mb_name_and_a_50_mb_exception_make_a_small_store(db_path: Path) -> None:
    huge_name, huge_message = "n" * (50 * MB), "e" * (50 * MB)

    @spanlite.trace(name=huge_name)
    def fails() -> None:
        raise ValueError(huge_message)

    with pytest.raises(ValueError) as caught:
        with spanlite.start_span(huge_name):
            fails()
    assert str(caught.value) is huge_message  # the user's exception, unchanged
    spans = only_spans()
    assert len(spans) == 2
    assert store_bytes(db_path) < 8 * MB  # was 286 MB
    for span in spans:
        assert span.name.startswith("nnnn") and "truncated" in span.name and len(span.name) <= MAX_NAME_BYTES
        assert span.status == "ERROR" and len(span.status_message or "") <= MAX_NAME_BYTES
        assert (span.status_message or "").startswith("ValueError: eeee") and "truncated" in span.status_message
        (event,) = span.events
        message, stacktrace = event["attributes"]["exception.message"], event["attributes"]["exception.stacktrace"]
        # The message is kept once in full, up to the field bound; the stack trace names it in short.
        assert message.startswith("eeee") and "truncated" in message
        assert MAX_FIELD_BYTES // 2 < len(message) <= MAX_FIELD_BYTES
        assert "ValueError: eeee" in stacktrace and len(stacktrace) < 2 * MAX_NAME_BYTES + 10_000
    with TraceStore(db_path) as store:
        (trace,) = store.db.query("SELECT name FROM traces")
    assert len(trace["name"]) <= MAX_NAME_BYTES


def test_long_attributes_list_items_events_and_ids_are_bounded_and_marked(db_path: Path) -> None:
    long = "a" * (MAX_FIELD_BYTES + 10_000)
    with spanlite.start_span("work", attributes={"k" * (MAX_NAME_BYTES * 3): 1}) as span:
        span.set_attribute("text", long)
        span.set_attribute("items", [long, "short"])
        span.set_attribute("many", ["x" * 1_000] * 1_000)  # each item small, the list a megabyte
        span.add_event("e" * (MAX_NAME_BYTES * 3), {"detail": long})
        spanlite.update_current_trace(session_id="s" * (MAX_NAME_BYTES * 3), user_id="u" * (MAX_NAME_BYTES * 3))
    (span,) = only_spans()
    attributes = span.attributes
    (key,) = [k for k in attributes if k.startswith("kkk")]
    assert len(key) <= MAX_NAME_BYTES and "truncated" in key
    for value in (attributes["text"], span.events[0]["attributes"]["detail"]):
        marker = orjson.loads(value)
        assert marker[TRUNCATED_KEY] is True and marker["original_bytes"] == len(long)
        assert marker["preview"].startswith("aaaa") and len(value) <= MAX_FIELD_BYTES
    for value in (attributes["items"], attributes["many"]):  # a list as a whole: its JSON, cut and marked
        marker = orjson.loads(value)
        assert marker[TRUNCATED_KEY] is True and marker["preview"].startswith('["')
        assert len(value) <= MAX_FIELD_BYTES
    assert len(span.events[0]["name"]) <= MAX_NAME_BYTES
    for column in ("session_id", "user_id"):
        with TraceStore(db_path) as store:
            (row,) = store.db.query(f"SELECT {column} FROM traces")
        assert len(row[column]) <= MAX_NAME_BYTES and "truncated" in row[column]
    assert len(attributes["session.id"]) <= MAX_NAME_BYTES


def test_a_span_of_many_big_values_is_bounded_as_a_whole(db_path: Path) -> None:
    value = "v" * (MAX_FIELD_BYTES - 1_000)
    with spanlite.start_span("wide", inputs=value) as span:
        span.set_attributes({f"a{i}": value for i in range(100)})
        for i in range(5):
            span.add_event(f"e{i}", {"detail": value})
        span.set_outputs(value)
    with spanlite.start_span("eventful") as span:
        for i in range(100):
            span.add_event(f"e{i}", {"detail": value})
    spans = {s.name: s for s in only_spans()}
    with TraceStore(db_path) as store:
        rows = store.db.query("SELECT length(name) + coalesce(length(inputs), 0) + coalesce(length(outputs), 0) + "
                              "length(attributes) + length(events) AS size FROM spans")  # fmt: skip
        assert all(row["size"] <= MAX_ROW_BYTES for row in rows)
    wide = spans["wide"]
    # The span's own values first, then its events, then its other attributes as far as they fit, the rest marked.
    assert wide.inputs == value and wide.outputs == value
    assert [e["attributes"]["detail"] for e in wide.events] == [value] * 5
    kept = [k for k, v in wide.attributes.items() if v == value]
    assert kept == [f"a{i}" for i in range(len(kept))] and 0 < len(kept) < 100
    assert all(orjson.loads(wide.attributes[f"a{i}"])[TRUNCATED_KEY] for i in range(len(kept), 100))
    *events, left_out = spans["eventful"].events
    assert 0 < len(events) < 100 and events[0]["attributes"]["detail"] == value
    assert left_out["name"] == "spanlite.events_left_out" and left_out["attributes"] == {"events": 100 - len(events)}


def test_a_huge_attribute_costs_nothing_to_the_other_spans(db_path: Path) -> None:
    @spanlite.trace
    def innocent(i: int) -> int:
        return i

    with spanlite.start_span("huge") as span:
        span.set_attribute("blob", "b" * (300 * MB))
    assert [innocent(i) for i in range(100)] == list(range(100))
    started = time.monotonic()
    assert spanlite.flush(timeout_s=60)
    assert time.monotonic() - started < 30  # was a 74 s flush that dropped all 101 spans
    with TraceStore(db_path) as store:
        stats = store.stats()
        (blob,) = store.db.query("SELECT attributes FROM spans WHERE name = 'huge'")
    assert (stats["spans"], stats["dropped_spans"]) == (101, 0)
    assert stats["size_bytes"] < 8 * MB
    assert orjson.loads(orjson.loads(blob["attributes"])["blob"])["original_bytes"] == 300 * MB


def test_a_span_sqlite_refuses_as_too_big_is_dropped_alone_and_counted(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANLITE_WRITER", "thread")
    spanlite.configure(db=db_path)
    exporter = _config._pipeline.processors[0].exporter  # type: ignore[union-attr]
    # SQLite's own limit lowered below the field bound, as a store built with a small SQLITE_MAX_LENGTH has it: the
    # cheap way to have it refuse a row ("string or blob too big") without a gigabyte value.
    exporter._writer._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)

    @spanlite.trace
    def innocent(i: int) -> int:
        return i

    assert [innocent(i) for i in range(50)] == list(range(50))
    with spanlite.start_span("too-big") as span:
        span.set_attribute("blob", "b" * 150_000)
    assert [innocent(i) for i in range(50, 100)] == list(range(50, 100))
    started = time.monotonic()
    assert spanlite.flush(timeout_s=60)
    assert time.monotonic() - started < 5  # not retried as if the store had failed
    with TraceStore(db_path) as store:
        stats = store.stats()
        names = {r["name"] for r in store.db.query("SELECT DISTINCT name FROM spans")}
    assert (stats["spans"], stats["dropped_spans"]) == (100, 1)
    assert names == {"innocent"}


def test_received_spans_are_bounded_too(tmp_path: Path) -> None:
    long = "x" * (3 * MB)
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": long,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
        "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
                       {"key": "input.value", "value": {"stringValue": long}},
                       {"key": "note", "value": {"stringValue": long}}],
        "events": [{"timeUnixNano": "1700000000100000000", "name": long,
                    "attributes": [{"key": "detail", "value": {"stringValue": long}}]}],
        "status": {"code": 2, "message": long},
    }  # fmt: skip
    body = orjson.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]})
    with start_receiver(tmp_path / "received.db") as receiver:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=30)
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        with TraceStore(receiver.db_path) as store:
            (row,) = store.db.query("SELECT * FROM spans")
            (trace,) = store.db.query("SELECT name FROM traces")
    assert len(row["name"]) <= MAX_NAME_BYTES and len(trace["name"]) <= MAX_NAME_BYTES
    assert len(row["status_message"]) <= MAX_FIELD_BYTES
    assert orjson.loads(row["inputs"])[TRUNCATED_KEY] is True  # still valid JSON, marked
    assert orjson.loads(orjson.loads(row["attributes"])["note"])[TRUNCATED_KEY] is True
    (event,) = orjson.loads(row["events"])
    assert len(event["name"]) <= MAX_NAME_BYTES and len(event["attributes"]["detail"]) <= MAX_FIELD_BYTES


def test_a_trace_s_tags_and_metadata_stay_bounded_however_many_spans_add_to_them(db_path: Path) -> None:
    with spanlite.start_span("root"):
        for i in range(400):
            with spanlite.start_span(f"step-{i}"):
                spanlite.update_current_trace(tags=[f"{i}-" + "t" * 1_000], metadata={f"k{i}": "m" * 1_000})
    only_spans()
    with TraceStore(db_path) as store:
        (trace,) = store.db.query("SELECT tags, metadata FROM traces")
        tag_rows = store.db.execute("SELECT count(*) FROM trace_tags").fetchone()[0]
    tags, metadata = orjson.loads(trace["tags"]), orjson.loads(trace["metadata"])
    assert len(trace["tags"]) <= MAX_FIELD_BYTES and len(trace["metadata"]) <= MAX_FIELD_BYTES
    assert 100 < len(tags) < 400 and tags[0].startswith("0-") and tag_rows == len(tags)
    assert 100 < len(metadata) < 400 and "k0" in metadata
