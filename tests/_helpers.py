"""What several test modules share: the CLI run as a user runs it, rows written as an earlier spanlite wrote them,
OTLP request bodies and a POST to the receiver, and the viewer's store and pages under AppTest."""

from __future__ import annotations

import dataclasses
import http.client
import operator
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanlite
from spanlite.evaluation import datasets
from spanlite.otlp import Receiver
from spanlite.store import TraceStore
from spanlite.store._rows import span_row

if TYPE_CHECKING:  # the viewer's extra: not in the oldest-SDK suite's venv, which imports this module too
    from streamlit.testing.v1 import AppTest


def cli(*args: str, db: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``spanlite ARGS`` in a process of its own, with ``env`` added to this one's environment."""
    command = [sys.executable, "-m", "spanlite.cli", *args] + (["--db", str(db)] if db else [])
    environ = {**os.environ, **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=environ)


def row(trace: str, span: str, parent: str | None, start: int, **extra: Any) -> dict[str, Any]:
    attributes = extra.pop("attributes", {})
    fields: dict[str, Any] = {
        "trace_id": trace, "span_id": span, "parent_id": parent, "name": f"span-{span}", "start_ns": start,
        "end_ns": start + 10, "status": "OK", "status_message": None, "attributes": attributes, "events": [],
    }  # fmt: skip
    fields.update(extra)
    return span_row(**fields)


def write_as_before(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write rows into a store of an earlier schema as the spanlite of that schema did: the span columns it had,
    and the traces' summaries."""
    from spanlite.store import _writer

    columns = [name for _, name, *_ in conn.execute("PRAGMA table_info(spans)")]
    trace_columns = {name for _, name, *_ in conn.execute("PRAGMA table_info(traces)")}
    # Today's summaries, less the trace columns that schema did not have yet.
    upsert, values = _writer._UPSERT_TRACE, _writer._trace_values
    kept = tuple(c for c in _writer._TRACE_COLUMNS if c in trace_columns)
    _writer._UPSERT_TRACE = f"INSERT OR REPLACE INTO traces ({', '.join(kept)}) VALUES ({', '.join('?' * len(kept))})"
    _writer._trace_values = operator.itemgetter(*kept)
    try:
        with conn:
            conn.executemany(
                f"INSERT INTO spans ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [[r[c] for c in columns] for r in rows],
            )
            _writer._merge_traces(conn, list(rows))
    finally:
        _writer._UPSERT_TRACE, _writer._trace_values = upsert, values


PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE_ID = "5b8efff798038103d269b633813fc60c"


def post(
    receiver: Receiver, body: Any, content_type: str = PROTOBUF, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def json_span(span_id: str = "eee19b7ec3c1b174", parent: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE_ID, "spanId": span_id, "parentSpanId": parent, "name": f"span-{span_id}", "kind": 2,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
        "attributes": [
            {"key": "http.route", "value": {"stringValue": "/ask"}},
            {"key": "retries", "value": {"intValue": "3"}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "ok", "value": {"boolValue": True}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}}},
        ],
        "events": [{"timeUnixNano": "1700000000100000000", "name": "retry", "attributes": []}],
        "status": {"code": 2, "message": "upstream timeout"},
        **extra,
    }  # fmt: skip


def json_body(*spans: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]}
    scope_spans = [{"scope": {"name": "my.lib"}, "spans": list(spans)}]
    request = {"resourceSpans": [{"resource": resource, "scopeSpans": scope_spans}]}
    return orjson.dumps(request)


def sdk_body(n: int = 2) -> bytes:
    """A real protobuf body, as the OTel SDK encodes it."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"):
        for i in range(n - 1):
            with tracer.start_as_current_span(f"child-{i}"):
                pass
    return encode_spans(memory.get_finished_spans()).SerializeToString()


APP = Path(spanlite.__file__).parent.parent / "viewer" / "app.py"
EVIL = "<script>alert('pwned')</script> [click](javascript:alert(1)) :red[boom]"
QUESTION = "Where is my order A1?"
ANSWER = "Your order A1 has shipped."


@dataclasses.dataclass(frozen=True)
class Traces:
    agent: str
    failing: str
    evil: str


def populate() -> Traces:
    """Three traces: a support agent with a chat LLM span and a tool, a failure, and hostile content."""

    @spanlite.trace(kind="TOOL")
    def lookup_order(order_id: str) -> dict[str, str]:
        return {"order_id": order_id, "status": "shipped"}

    @spanlite.trace(kind="AGENT")
    def support_agent(question: str) -> str:
        spanlite.update_current_trace(session_id="sess-1", user_id="alice", tags=["prod", "support"])
        messages = [
            {"role": "system", "content": "You are a helpful support agent."},
            {"role": "user", "content": question},
        ]
        with spanlite.start_span("chat gpt-4o", kind="LLM", inputs={"messages": messages}) as span:
            span.set_attributes(
                {
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 42,
                    "gen_ai.usage.output_tokens": 7,
                    "gen_ai.input.messages": messages,
                    "gen_ai.output.messages": [
                        {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {"id": "c1", "function": {"name": "lookup_order", "arguments": '{"order_id": "A1"}'}}
                            ],
                        }
                    ],
                }
            )
        lookup_order("A1")
        return ANSWER

    @spanlite.trace
    def refund(order_id: str) -> None:
        spanlite.update_current_trace(session_id="sess-1", user_id="alice")
        raise ValueError(f"refund of {order_id} refused")

    @spanlite.trace(name=EVIL)
    def hostile(prompt: str) -> str:
        return EVIL

    support_agent(QUESTION)
    with pytest.raises(ValueError):
        refund("A1")
    hostile(EVIL)
    page = spanlite.search_traces(limit=10)  # flushes first
    by_name = {t.name: t.trace_id for t in page}
    return Traces(agent=by_name["support_agent"], failing=by_name["refund"], evil=by_name[EVIL])


def app() -> AppTest:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, page: str, **query: str) -> AppTest:
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def span_tree_rows(at: AppTest) -> list[tuple[int, str, str, str, str]]:
    """The Trace page's span tree as its component is given it: (depth, kind, name, tokens, cost) per row."""
    (element,) = at.get("bidi_component")
    tree = orjson.loads(orjson.loads(element.proto.json))  # the page hands the component its data as JSON text
    tokens, costs = tree["tokens"], tree["costs"]
    rows = enumerate(zip(tree["depth"], tree["kinds"], tree["names"]))
    return [(d, k, n, tokens.get(str(i), ""), costs.get(str(i), "")) for i, (d, k, n) in rows]


def all_text(at: AppTest) -> str:
    """Everything the page shows as Markdown (titles, captions, metric values) joined, for safety checks."""
    parts = [e.value for e in [*at.title, *at.subheader, *at.caption, *at.markdown]]
    parts += [m.value for m in at.metric]
    return "\n".join(parts)


HUGE = "x" * 1_000_000
RIGHT = ["4", "Paris", "no"]
QUESTIONS = ["What is 2+2?", "Capital of France?", EVIL]


@dataclasses.dataclass(frozen=True)
class Evals:
    v1: str  # everything right
    v2: str  # newer: the capital regressed, the judge failed on one example, one prediction raised
    traces_v1: list[str]
    traces_v2: list[str]


def answered(question: str, answer: str) -> str:
    """A trace of the app answering, as ``evaluate`` makes one per example; returns its id."""
    with spanlite.start_span("answer", kind="CHAIN", inputs={"question": question}) as span:
        span.set_outputs(answer)
        return span.trace_id


def _run(store: TraceStore, name: str, answers: list[str], correct: list[bool | None]) -> tuple[str, list[str]]:
    records = datasets.get("qa", store=store).records()
    run_id = store.start_run(name, tags={"prompt": name}, dataset="qa", scorers=["exact_match", "correctness"])
    traces = [answered(q, a) for q, a in zip(QUESTIONS, answers)]
    store.add_results(
        run_id,
        [
            {
                "example_index": i, "trace_id": t, "record_id": r.record_id, "inputs": r.inputs,
                "outputs": a, "expectations": r.expectations,
            }
            for i, (t, r, a) in enumerate(zip(traces, records, answers))
        ],
    )  # fmt: skip
    store.add_scores(
        run_id,
        [{"example_index": i, "scorer": "exact_match", "value": ok} for i, ok in enumerate(correct) if ok is not None]
        + [
            {"example_index": i, "scorer": "correctness", "value": ok, "rationale": f"judged {name} answer {i}"}
            for i, ok in enumerate(correct)
            if ok is not None
        ],
    )
    return run_id, traces


def populate_evals(db_path: Path) -> Evals:
    """A dataset ``qa`` of three questions and two runs of an app on it, made as ``evaluate`` makes them."""
    with TraceStore(db_path) as store:
        qa = datasets.create("qa", description="Questions people ask", store=store)
        qa.add(
            [{"inputs": {"question": q}, "expectations": {"expected_response": a}} for q, a in zip(QUESTIONS, RIGHT)]
        )
        v1, traces_v1 = _run(store, "prompt-v1", RIGHT, [True, True, True])
        store.finish_run(v1, {"exact_match/mean": 1.0, "correctness/mean": 1.0})
        v2, traces_v2 = _run(store, "prompt-v2", ["4", "Lyon", HUGE], [True, False, None])
        store.add_scores(
            v2,
            [
                {
                    "example_index": 2,
                    "scorer": "correctness",
                    "error": "judge answered no JSON",
                    "raw": "I think <b>yes</b>",
                }
            ],
        )
        store.add_results(
            v2, [{"example_index": 3, "inputs": {"question": "boom?"}, "error": "RuntimeError: predict failed"}]
        )
        store.finish_run(
            v2, {"exact_match/mean": 0.5, "correctness/mean": 0.0}, status="failed", error="1 prediction failed"
        )
    spanlite.flush()
    return Evals(v1, v2, traces_v1, traces_v2)
