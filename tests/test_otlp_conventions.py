"""Spans sent over OTLP carry OpenInference's attributes beside spanlite's and the GenAI ones, so that backends that
read only OpenInference (Arize Phoenix) show each span's kind, input and output; ``configure(otlp_conventions=...)``
chooses which. Sent by the OTel SDK's own OTLP exporter to a loopback backend that decodes the protobuf."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openinference.semconv import trace as oi

import spanlite
from fake_llm_server import FakeLLMServer
from otlp_sink import OTLPSink
from spanlite.otlp import Receiver
from spanlite.store import TraceStore

TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
OURS = ("spanlite.", "gen_ai.", "session.", "user.")


@pytest.fixture
def sink(db_path: Path) -> Iterator[OTLPSink]:
    backend = OTLPSink().start()
    spanlite.configure(db=db_path, otlp_endpoint=backend.endpoint)
    yield backend
    spanlite.configure(db=db_path)  # drop the OTLP pipeline while its backend still listens
    backend.stop()


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer().start()
    yield server
    server.stop()


@spanlite.trace(kind="RETRIEVER")
def search(query: str) -> list[dict[str, Any]]:
    return [{"id": "doc-1", "content": "Paris is in France.", "score": 0.9, "metadata": {"source": "atlas"}}]


@spanlite.trace(kind="TOOL")
def weather(city: str) -> dict[str, str]:
    return {"city": city, "forecast": "sunny"}


@spanlite.trace(kind="AGENT")
def answer(question: str) -> str:
    spanlite.update_current_trace(tags=["maps"], metadata={"team": "geo"})
    search(question)
    return f"sunny in {weather('Paris')['city']}"


def openinference_part(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if not k.startswith(OURS)}


def test_chain_agent_retriever_and_tool_spans_carry_their_kind_input_and_output(sink: OTLPSink) -> None:
    with spanlite.start_span("request"):
        assert answer("Where is Paris?") == "sunny in Paris"
    assert spanlite.flush()

    [request], [agent], [retriever], [tool] = (sink.named(n) for n in ("request", "answer", "search", "weather"))
    assert openinference_part(request) == {"openinference.span.kind": "CHAIN"}
    assert openinference_part(agent) == {
        "openinference.span.kind": "AGENT",
        "input.value": '{"question":"Where is Paris?"}', "input.mime_type": "application/json",
        "output.value": "sunny in Paris", "output.mime_type": "text/plain",  # a string is text, not JSON
        "tag.tags": ["maps"], "metadata": '{"team":"geo"}',
    }  # fmt: skip
    assert openinference_part(retriever) == {
        "openinference.span.kind": "RETRIEVER",
        "input.value": '{"query":"Where is Paris?"}', "input.mime_type": "application/json",
        "output.value": retriever["spanlite.outputs"], "output.mime_type": "application/json",
        "retrieval.documents.0.document.id": "doc-1",
        "retrieval.documents.0.document.content": "Paris is in France.",
        "retrieval.documents.0.document.score": 0.9,
        "retrieval.documents.0.document.metadata": '{"source":"atlas"}',
    }  # fmt: skip
    assert openinference_part(tool) == {
        "openinference.span.kind": "TOOL",
        "input.value": '{"city":"Paris"}', "input.mime_type": "application/json",
        "output.value": '{"city":"Paris","forecast":"sunny"}', "output.mime_type": "application/json",
    }  # fmt: skip
    assert tool["spanlite.span.kind"] == "TOOL" and tool["spanlite.inputs"] == '{"city":"Paris"}'  # ours stay


def test_model_calls_carry_model_tokens_messages_and_tools(sink: OTLPSink, llm: FakeLLMServer) -> None:
    spanlite.autolog("openai")
    try:
        with openai.OpenAI(base_url=llm.url, api_key="test", max_retries=0) as client:
            messages: list[Any] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}]
            first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS, temperature=0.2)
            [call] = first.choices[0].message.tool_calls or []
            result = {"role": "tool", "tool_call_id": call.id, "content": json.dumps(weather("Paris"))}
            messages += [first.choices[0].message.model_dump(exclude_none=True), result]
            assert client.chat.completions.create(model="gpt-4o", messages=messages).choices[0].message.content
    finally:
        spanlite.autolog("openai", disable=True)
    assert spanlite.flush()

    calls, answers = sink.named("chat gpt-4o")
    for span in (calls, answers):
        assert span["input.value"] == span["spanlite.inputs"] and span["output.value"] == span["spanlite.outputs"]
        assert span["gen_ai.usage.input_tokens"] == 12  # the GenAI conventions are still there
    assert {k: v for k, v in openinference_part(calls).items() if not k.startswith(("input.", "output."))} == {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-2024",
        "llm.provider": "openai_compatible",  # an OpenAI client on the fake's 127.0.0.1 URL, not OpenAI's
        "llm.invocation_parameters": '{"temperature":0.2}',
        "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": "Weather?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_0",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "weather",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city":"Paris"}',
        "llm.tools.0.tool.json_schema": '{"type":"function","name":"weather","parameters":{"type":"object"}}',
        "llm.token_count.prompt": 12, "llm.token_count.completion": 5, "llm.token_count.total": 17,
        "llm.token_count.prompt_details.cache_read": 2, "llm.token_count.completion_details.reasoning": 1,
    }  # fmt: skip
    assert {k: v for k, v in answers.items() if k.startswith("llm.input_messages.3.")} == {
        "llm.input_messages.3.message.role": "tool",
        "llm.input_messages.3.message.content": '{"city": "Paris", "forecast": "sunny"}',
        "llm.input_messages.3.message.tool_call_id": "call_0",
    }
    assert answers["llm.output_messages.0.message.content"] == "Hello there!"


def test_every_key_sent_is_an_openinference_semantic_convention(sink: OTLPSink, llm: FakeLLMServer) -> None:
    spanlite.autolog("openai")
    try:
        with openai.OpenAI(base_url=llm.url, api_key="test", max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], tools=TOOLS)
    finally:
        spanlite.autolog("openai", disable=True)
    with spanlite.start_span("embed", kind="EMBEDDING") as span:
        span.set_attributes({"gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 3})
    answer("Where is Paris?")
    assert spanlite.flush()

    top = {v for k, v in vars(oi.SpanAttributes).items() if k.isupper()}
    nested = {v for cls in (oi.MessageAttributes, oi.ToolCallAttributes, oi.DocumentAttributes, oi.ToolAttributes)
              for k, v in vars(cls).items() if k.isupper()}  # fmt: skip
    sent = {key for _, attributes in sink.spans for key in openinference_part(attributes)}
    assert {"llm.tools.0.tool.json_schema", "retrieval.documents.0.document.score", "embedding.model_name"} <= sent
    unknown = [k for k in sent if (parts := re.split(r"\.\d+\.", k))[0] not in top or not set(parts[1:]) <= nested]
    assert not unknown
    assert {a["openinference.span.kind"] for _, a in sink.spans} == {"LLM", "EMBEDDING", "AGENT", "RETRIEVER", "TOOL"}


def test_the_apps_own_openinference_attributes_win(sink: OTLPSink) -> None:
    with spanlite.start_span("step", inputs={"q": 1}, attributes={"input.value": "as I say"}):
        pass
    assert spanlite.flush()
    [step] = sink.named("step")
    assert (step["input.value"], step["input.mime_type"]) == ("as I say", "application/json")


@pytest.mark.parametrize(
    ("conventions", "openinference", "gen_ai"),
    [(("gen_ai",), False, True), ("openinference", True, False), ((), False, False),
     (["openinference", "gen_ai"], True, True)],
)  # fmt: skip
def test_otlp_conventions_choose_what_is_sent(
    conventions: Any, openinference: bool, gen_ai: bool, sink: OTLPSink, db_path: Path
) -> None:
    settings = spanlite.configure(db=db_path, otlp_endpoint=sink.endpoint, otlp_conventions=conventions)
    assert settings.otlp_conventions == tuple(c for c in ("gen_ai", "openinference") if c in conventions)
    with spanlite.start_span("chat", kind="CHAT_MODEL", inputs="Hi") as span:
        span.set_attributes({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 3})
    assert spanlite.flush()
    [chat] = sink.named("chat")
    assert ("openinference.span.kind" in chat, "llm.model_name" in chat, "input.value" in chat) == (openinference,) * 3
    assert ("gen_ai.request.model" in chat, "gen_ai.usage.input_tokens" in chat) == (gen_ai,) * 2
    assert (chat["spanlite.span.kind"], chat["spanlite.inputs"]) == ("CHAT_MODEL", '"Hi"')  # always sent
    with TraceStore(db_path) as store:  # the local store keeps everything, whatever is sent
        [record] = store.get_trace(span.trace_id).spans  # type: ignore[union-attr]
    assert (record.model, record.input_tokens, record.attributes["gen_ai.request.model"]) == ("gpt-4o", 3, "gpt-4o")


@pytest.mark.parametrize(
    ("value", "error"),
    [(("gen_ai", "phoenix"), (r"^unknown OTLP convention 'phoenix' in otlp_conventions; expected any of 'gen_ai', "
                              r"'openinference'$")),
     (3, r"^otlp_conventions must be a tuple of names \(any of 'gen_ai', 'openinference'\), not 3$")],
)  # fmt: skip
def test_a_bad_otlp_conventions_value_is_a_one_line_error_and_the_set_up_stays(
    value: Any, error: str, db_path: Path
) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        spanlite.configure(db=db_path, otlp_endpoint="http://127.0.0.1:9", otlp_conventions=value)
    assert spanlite._config.settings().otlp_endpoint is None  # the set-up in force stays


def test_through_spanlite_serve_each_value_is_stored_once(otlp_backend: Receiver, db_path: Path) -> None:
    spanlite.configure(db=db_path, otlp_endpoint=otlp_backend.endpoint)
    answer("Where is Paris?")
    with spanlite.start_span("step", inputs={"q": 1}, attributes={"input.value": "as I say"}):
        pass
    assert spanlite.flush()
    with TraceStore(otlp_backend.db_path) as store:
        traces = [store.get_trace(t.trace_id) for t in store.search_traces()]
    spans = {s.name: s for trace in traces if trace is not None for s in trace.spans}
    assert {name: (s.kind, sorted(s.attributes)) for name, s in spans.items()} == {
        "answer": ("AGENT", ["otel.scope.name", "spanlite.trace.metadata", "spanlite.trace.tags"]),
        "search": ("RETRIEVER", ["otel.scope.name"]),
        "weather": ("TOOL", ["otel.scope.name"]),
        "step": ("CHAIN", ["input.value", "otel.scope.name"]),  # the app's own, not derived from ours: kept
    }
    assert spans["search"].outputs == search("x") and spans["step"].attributes["input.value"] == "as I say"
