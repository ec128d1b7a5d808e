"""A model call's response is read into its span after the span ends, by spanlite's export processors (``_late``):
every processor must see it, dropped spans must let their readers go, and anyone else's processor must see the
response on the span at once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanlite
from fake_llm_server import OPENAI_USAGE as USAGE
from fake_llm_server import TEXT, FakeLLMServer
from spanlite.otlp import Receiver
from spanlite.store import SpanRecord, TraceStore
from spanlite.tracing import _late
from spanlite.tracing import attributes as attr
from spanlite.tracing._processor import QueueProcessor

MESSAGES = [{"role": "user", "content": "Hi"}]
RESPONSE_KEYS = (attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_USAGE_INPUT_TOKENS, attr.GEN_AI_RESPONSE_ID, attr.OUTPUTS)
STORED_KEYS = (attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_RESPONSE_ID, attr.GEN_AI_RESPONSE_FINISH_REASONS)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog() -> Iterator[None]:
    spanlite.autolog("openai")
    yield
    spanlite.autolog("openai", disable=True)


def chat(server: FakeLLMServer, *, stream: bool = False) -> str:
    with openai.OpenAI(base_url=server.url, api_key="test", max_retries=0) as client:
        if stream:
            return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True) if c.choices)  # fmt: skip
        return client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content or ""


def model_span(path: Path) -> SpanRecord:
    with TraceStore(path) as store:
        [summary] = store.search_traces()
        trace = store.get_trace(summary.trace_id)
    assert trace is not None
    [span] = trace.spans
    return span


def assert_has_response(span: SpanRecord) -> None:
    assert all(key in span.attributes for key in STORED_KEYS), sorted(span.attributes)
    assert span.outputs["choices"][0]["message"]["content"] == TEXT
    assert (span.input_tokens, span.output_tokens) == (USAGE["prompt_tokens"], USAGE["completion_tokens"])


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_the_response_is_read_once_the_span_has_ended(server: FakeLLMServer, db_path: Path, stream: bool) -> None:
    spanlite.configure(db=db_path)  # a processor that exports every 0.2 s: the read waits for it
    assert chat(server, stream=stream) == TEXT
    assert len(_late._pending) == 1  # the span has ended; its response is still to be read
    assert spanlite.flush()
    assert _late._pending == {}
    assert_has_response(model_span(db_path))


def test_the_store_and_the_otlp_endpoint_both_get_the_response(
    server: FakeLLMServer, db_path: Path, otlp_backend: Receiver
) -> None:
    spanlite.configure(db=db_path, otlp_endpoint=otlp_backend.endpoint)
    chat(server, stream=True)
    assert spanlite.flush()
    local, remote = model_span(db_path), model_span(otlp_backend.db_path)
    assert_has_response(local)
    assert dataclasses.replace(remote, attributes=without_scope(remote.attributes)) == dataclasses.replace(
        local, attributes=without_scope(local.attributes)
    )
    assert _late._pending == {}


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_a_processor_of_someone_elses_sees_the_response_at_once(
    server: FakeLLMServer, db_path: Path, stream: bool
) -> None:
    theirs = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    otel_trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]  # reset the once-only global for this test
    otel_trace._TRACER_PROVIDER_SET_ONCE._done = False  # type: ignore[attr-defined]
    otel_trace.set_tracer_provider(provider)
    spanlite.configure(db=db_path, use_global_provider=True)
    chat(server, stream=stream)
    [span] = theirs.get_finished_spans()  # exported as it ended, before any flush
    assert all(key in span.attributes for key in RESPONSE_KEYS)  # type: ignore[operator]
    assert _late._pending == {}


def counting(reads: list[int]) -> Callable[[], dict[str, Any]]:
    """A reader that notes each time it runs."""

    def read() -> dict[str, Any]:
        reads.append(1)
        return {"late": 1}

    return read


def without_scope(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k != "otel.scope.name"}


class Kept(InMemorySpanExporter):
    """Keeps what it is sent, as a store would."""


def provider_with(*processors: QueueProcessor) -> TracerProvider:
    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def test_a_span_every_processor_drops_lets_its_reader_go() -> None:
    full = QueueProcessor(Kept(), max_queue=0)
    span = provider_with(full).get_tracer("t").start_span("call")
    reads: list[int] = []
    assert _late.read_later(span, counting(reads))
    span.end()
    assert (reads, _late._pending, full.dropped) == ([], {}, 1)
    full.shutdown()


def test_a_span_one_processor_drops_is_still_read_for_the_other() -> None:
    full, kept = QueueProcessor(Kept(), max_queue=0), Kept()
    exporting = QueueProcessor(kept)
    span = provider_with(full, exporting).get_tracer("t").start_span("call")
    reads: list[int] = []
    assert _late.read_later(span, counting(reads))
    span.end()
    assert exporting.force_flush()
    [exported] = kept.get_finished_spans()
    assert (exported.attributes["late"], reads, _late._pending) == (1, [1], {})  # type: ignore[index]
    for processor in (full, exporting):
        processor.shutdown()


def test_a_span_sampled_out_is_not_read(db_path: Path) -> None:
    spanlite.configure(db=db_path, sample_rate=0.0)
    with spanlite.start_span("sampled out") as span:
        reads: list[int] = []
        assert _late.read_later(span.otel_span, counting(reads))
    assert spanlite.flush()
    assert (reads, _late._pending) == ([], {})


def test_a_failing_reader_is_logged_and_the_span_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SPANLITE_STRICT")  # on an export thread there is no caller to raise into, strict or not
    kept = Kept()
    processor = QueueProcessor(kept)
    span = provider_with(processor).get_tracer("t").start_span("call")
    span.set_attribute("early", 1)

    def broken() -> dict[str, Any]:
        raise RuntimeError("spanlite bug")

    assert _late.read_later(span, broken)
    span.end()
    with caplog.at_level(logging.ERROR, logger="spanlite"):
        assert processor.force_flush()
    [exported] = kept.get_finished_spans()
    assert dict(exported.attributes) == {"early": 1}  # type: ignore[arg-type]
    assert "internal error in test_a_failing_reader_is_logged_and_the_span_kept.<locals>.broken" in caplog.text
    processor.shutdown()
