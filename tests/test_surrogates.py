"""A lone surrogate in a span's text is no UTF-8: the span is stored with U+FFFD there, the rest of its batch too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider

import spanlite
from spanlite.store import SQLiteSpanExporter, TraceStore
from spanlite.store._rows import span_row
from spanlite.tracing import _provider
from spanlite.tracing._processor import QueueProcessor

BAD = "bad\ud800"
FIXED = "bad\ufffd"


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_span_with_lone_surrogates_is_stored_with_the_rest_of_its_batch(db_path: Path, writer: str) -> None:
    exporter = SQLiteSpanExporter(db_path, writer=writer)  # type: ignore[arg-type]
    processor = QueueProcessor(exporter, delay_s=3600)  # exports only when flushed: all spans in one batch
    provider = TracerProvider()
    provider.add_span_processor(processor)
    _provider.install(provider)
    try:
        with spanlite.start_span("root", kind="CHAIN", inputs={"q": "fine"}):
            with spanlite.start_span("good-before"):
                pass
            with spanlite.start_span(BAD, kind="TOOL") as span:
                span.set_attribute("note", "x\udc00y")
                span.set_attribute("key\ud800", "value")
                span.set_attribute("list", [BAD, "b"])
                span.set_inputs({"q": BAD})
                span.set_outputs(BAD)
                span.add_event("event\ud800", {"detail": BAD})
            with spanlite.start_span("good-after"):
                pass
            spanlite.update_current_trace(tags=[BAD], metadata={"m": BAD}, session_id=BAD)
        assert provider.force_flush()
        assert (exporter.writer_pid is not None) is (writer == "process")
        assert (processor.exported, processor.dropped) == (4, 0)
    finally:
        provider.shutdown()
    with TraceStore(db_path) as store:
        spans = {r["name"]: r for r in store.rows("SELECT * FROM spans")}
        [trace] = store.search_traces()
        assert len(store.search_traces(text="fine")) == len(store.search_traces(text="bad")) == 1  # inputs, outputs
    assert set(spans) == {"root", "good-before", FIXED, "good-after"}
    odd = spans[FIXED]
    attributes = orjson.loads(odd["attributes"])
    assert (attributes["note"], attributes["key\ufffd"], attributes["list"]) == ("x\ufffdy", "value", [FIXED, "b"])
    # Inputs and outputs are JSON text made by tracing's to_json, which replaces surrogates its own way (U+FFFD).
    assert orjson.loads(odd["inputs"])["q"].startswith(FIXED) and orjson.loads(odd["outputs"]).startswith(FIXED)
    [event] = orjson.loads(odd["events"])
    assert (event["name"], event["attributes"]) == ("event\ufffd", {"detail": FIXED})
    assert (trace.span_count, trace.session_id, trace.metadata["m"][:4], trace.tags[0][:4]) == (4, FIXED, *[FIXED] * 2)


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_rows_with_lone_surrogates_are_stored_with_the_rest_of_their_batch(db_path: Path, writer: str) -> None:
    """Rows built elsewhere (the receiver builds its own) reach SQLite with the surrogate: it refuses to bind it."""

    def row(span_id: int, name: str, note: str) -> dict[str, Any]:
        return span_row(
            trace_id=f"{1:032x}", span_id=f"{span_id:016x}", parent_id=None, name=name, start_ns=1, end_ns=2,
            status="OK", status_message=name, attributes={"note": note}, events=(),
        )  # fmt: skip

    exporter = SQLiteSpanExporter(db_path, writer=writer)  # type: ignore[arg-type]
    try:
        assert exporter.write_rows([row(1, "good", "fine"), row(2, BAD, BAD), row(3, "also good", "fine")])
        assert (exporter.writer_pid is not None) is (writer == "process")
    finally:
        exporter.shutdown()
    with TraceStore(db_path) as store:
        rows = store.rows("SELECT name, status_message, attributes FROM spans ORDER BY span_id")
    assert [(r["name"], r["status_message"], orjson.loads(r["attributes"])["note"]) for r in rows] == [
        ("good", "good", "fine"), (FIXED, FIXED, FIXED), ("also good", "also good", "fine")
    ]  # fmt: skip
