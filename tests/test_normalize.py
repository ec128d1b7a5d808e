"""Spans from OpenInference, OpenLLMetry and the GenAI conventions land with our kind, inputs, messages, tokens."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from spanlite.otlp import start_receiver
from spanlite.store import TraceStore
from spanlite.store._normalize import normalize
from spanlite.store._rows import span_row

MESSAGES_IN = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
MESSAGES_OUT = [{"role": "assistant", "content": "Paris."}]


def row(attributes: dict[str, Any]) -> dict[str, Any]:
    """The store row a received span with these attributes becomes."""
    return span_row(
        trace_id="0" * 31 + "1", span_id="0" * 15 + "1", parent_id=None, name="s", start_ns=1, end_ns=2,
        status="OK", status_message=None, attributes=normalize(attributes), events=[],
    )  # fmt: skip


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def test_openinference_chat_span() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.provider": "openai",
        "input.value": json.dumps({"model": "gpt-4o", "messages": MESSAGES_IN}),
        "input.mime_type": "application/json",
        "output.value": "Paris.",
        "output.mime_type": "text/plain",
        "llm.invocation_parameters": '{"temperature": 0}',
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "Capital of France?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Paris.",
        "llm.model_name": "gpt-4o-2024-08-06",
        "llm.token_count.prompt": 12,
        "llm.token_count.completion": 3,
        "llm.token_count.total": 15,
        "session.id": "chat-42",
        "user.id": "ada",
        "tag.tags": ["beta", "eu"],
        "metadata": '{"tenant": "acme"}',
    }
    assert normalize(attributes) == {
        "spanlite.span.kind": "CHAT_MODEL",
        "spanlite.inputs": json.dumps({"model": "gpt-4o", "messages": MESSAGES_IN}, separators=(",", ":")),
        "spanlite.outputs": '"Paris."',
        "gen_ai.input.messages": orjson.dumps(MESSAGES_IN).decode(),
        "gen_ai.output.messages": orjson.dumps(MESSAGES_OUT).decode(),
        "gen_ai.request.model": "gpt-4o-2024-08-06",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        "spanlite.trace.tags": '["beta","eu"]',
        "spanlite.trace.metadata": '{"tenant":"acme"}',
        # kept as they came
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.provider": "openai",
        "llm.invocation_parameters": '{"temperature": 0}',
        "llm.model_name": "gpt-4o-2024-08-06",
        "llm.token_count.total": 15,
        "session.id": "chat-42",
        "user.id": "ada",
    }
    r = row(attributes)
    assert (r["kind"], r["model"], r["input_tokens"], r["output_tokens"]) == ("CHAT_MODEL", "gpt-4o-2024-08-06", 12, 3)
    assert loads(r["outputs"]) == "Paris."


def test_openinference_tool_calls_retriever_and_chain() -> None:
    llm = normalize({
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Weather in Paris?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
        "llm.input_messages.1.message.role": "tool",
        "llm.input_messages.1.message.tool_call_id": "call_1",
        "llm.input_messages.1.message.content": "18C",
    })  # fmt: skip
    assert loads(llm["gen_ai.output.messages"]) == [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
    ]  # fmt: skip
    assert loads(llm["gen_ai.input.messages"])[1] == {"role": "tool", "content": "18C", "tool_call_id": "call_1"}

    retriever = row({
        "openinference.span.kind": "RETRIEVER",
        "input.value": "capital of France",
        "retrieval.documents.0.document.id": "doc-1",
        "retrieval.documents.0.document.content": "Paris is the capital of France.",
        "retrieval.documents.0.document.score": 0.92,
        "retrieval.documents.0.document.metadata": '{"source": "wiki"}',
        "retrieval.documents.1.document.id": "doc-2",
        "retrieval.documents.1.document.content": "Lyon is in France.",
    })  # fmt: skip
    assert retriever["kind"] == "RETRIEVER"
    assert loads(retriever["inputs"]) == "capital of France"
    assert loads(retriever["outputs"]) == [
        {"id": "doc-1", "content": "Paris is the capital of France.", "score": 0.92, "metadata": {"source": "wiki"}},
        {"id": "doc-2", "content": "Lyon is in France."},
    ]
    assert loads(retriever["attributes"]) == {"openinference.span.kind": "RETRIEVER"}

    tool = row({"openinference.span.kind": "TOOL", "tool.name": "get_weather", "input.value": '{"city": "Paris"}'})
    assert (tool["kind"], loads(tool["inputs"])) == ("TOOL", {"city": "Paris"})  # JSON without a mime type
    assert loads(tool["attributes"])["gen_ai.tool.name"] == "get_weather"
    assert (
        row({"openinference.span.kind": "CHAIN", "input.value": "42", "input.mime_type": "text/plain"})["inputs"]
        == '"42"'
    )  # plain text stays text, even when it looks like JSON
    assert row({"openinference.span.kind": "PROMPT"})["kind"] == "TASK"
    assert (
        row({"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small"})["model"]
        == "text-embedding-3-small"
    )


def test_openllmetry_legacy_attributes() -> None:
    chat = {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Capital of France?",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Paris.",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": 12,
        "gen_ai.usage.completion_tokens": 3,
        "llm.usage.total_tokens": 15,
        "traceloop.association.properties.session_id": "chat-42",
        "traceloop.association.properties.user_id": "ada",
    }
    out = normalize(chat)
    assert out["spanlite.span.kind"] == "CHAT_MODEL"
    assert loads(out["gen_ai.input.messages"]) == MESSAGES_IN
    assert loads(out["gen_ai.output.messages"]) == [{**MESSAGES_OUT[0], "finish_reason": "stop"}]
    assert loads(out["spanlite.inputs"]) == MESSAGES_IN  # a model span shows its messages as inputs
    assert (out["session.id"], out["user.id"], out["gen_ai.provider.name"]) == ("chat-42", "ada", "OpenAI")
    moved = ("gen_ai.prompt.", "gen_ai.completion.", "gen_ai.usage.prompt_", "gen_ai.usage.completion_")
    assert not any(k.startswith(moved) for k in out)
    r = row(chat)
    assert (r["kind"], r["model"], r["input_tokens"], r["output_tokens"]) == ("CHAT_MODEL", "gpt-4o-2024-08-06", 12, 3)

    tool_call = normalize({
        "llm.request.type": "chat",
        "gen_ai.completion.0.tool_calls.0.id": "call_1",
        "gen_ai.completion.0.tool_calls.0.name": "get_weather",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
    })  # fmt: skip
    assert loads(tool_call["gen_ai.output.messages"]) == [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
    ]  # fmt: skip

    workflow = row({
        "traceloop.span.kind": "workflow",
        "traceloop.entity.name": "answer_question",
        "traceloop.entity.input": '{"args": ["Capital of France?"], "kwargs": {}}',
        "traceloop.entity.output": '"Paris."',
    })  # fmt: skip
    assert (workflow["kind"], loads(workflow["inputs"]), loads(workflow["outputs"])) == (
        "CHAIN", {"args": ["Capital of France?"], "kwargs": {}}, "Paris.",
    )  # fmt: skip
    kinds = {k: row({"traceloop.span.kind": k})["kind"] for k in ("task", "agent", "tool", "unknown")}
    assert kinds == {"task": "TASK", "agent": "AGENT", "tool": "TOOL", "unknown": "UNKNOWN"}
    assert row({"llm.request.type": "embedding"})["kind"] == "EMBEDDING"
    assert row({"llm.request.type": "completion"})["kind"] == "LLM"


def test_gen_ai_semantic_conventions() -> None:
    parts_in = [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
    ]
    parts_out = [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}]
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": json.dumps(parts_in),
        "gen_ai.output.messages": json.dumps(parts_out),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
    }
    r = row(chat)
    assert (r["kind"], r["model"], r["input_tokens"], r["output_tokens"]) == ("CHAT_MODEL", "gpt-4o", 12, 3)
    attributes = loads(r["attributes"])
    assert loads(attributes["gen_ai.input.messages"]) == MESSAGES_IN
    assert loads(attributes["gen_ai.output.messages"]) == [{**MESSAGES_OUT[0], "finish_reason": "stop"}]
    assert loads(r["inputs"]) == MESSAGES_IN

    tool_turn = normalize({
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": json.dumps([
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": 1}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "ok"}]},
            {"role": "user", "parts": [{"type": "text", "content": "see"}, {"type": "uri", "uri": "u"}]},
        ]),
    })  # fmt: skip
    assert loads(tool_turn["gen_ai.input.messages"]) == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "name": "f", "arguments": {"x": 1}}]},
        {"role": "tool", "content": "ok", "tool_call_id": "c1"},
        {"role": "user", "content": "see", "parts": [{"type": "uri", "uri": "u"}]},
    ]

    tool = row({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.arguments": '{"city": "Paris"}', "gen_ai.tool.call.result": '"18C"'})  # fmt: skip
    assert (tool["kind"], loads(tool["inputs"]), loads(tool["outputs"])) == ("TOOL", {"city": "Paris"}, "18C")
    operations = ["embeddings", "invoke_agent", "text_completion", "generate_content", "something_new"]
    kinds = [row({"gen_ai.operation.name": op})["kind"] for op in operations]
    assert kinds == ["EMBEDDING", "AGENT", "LLM", "CHAT_MODEL", "UNKNOWN"]


def test_pydantic_ai_agent_runs_and_tool_results() -> None:
    """Pydantic AI's spans (what its instrumentation and Logfire send): an agent run's inputs are the messages it
    added up to its first answer, its output ``final_result``; a tool's result is a part's ``result``."""

    def text(role: str, content: str) -> dict[str, Any]:
        return {"role": role, "parts": [{"type": "text", "content": content}]}

    call = {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": '{"x": 1}'}]}
    answer = {"role": "user", "parts": [{"type": "tool_call_response", "id": "c1", "name": "f", "result": "sunny"}]}
    history = [text("user", "Earlier?"), text("assistant", "Before.")]
    run = [text("system", "Be brief."), text("user", "Where?"), call, answer, text("assistant", "Paris.")]
    agent = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "geo",
        "pydantic_ai.all_messages": json.dumps(history + run),
        "pydantic_ai.new_message_index": 2,
        "final_result": '{"city": "Paris"}',
    }
    r = row(agent)
    assert r["kind"] == "AGENT"
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where?"}]
    assert loads(r["inputs"]) == {"messages": prompt}
    assert loads(r["outputs"]) == {"city": "Paris"}
    assert loads(r["attributes"])["pydantic_ai.all_messages"] == agent["pydantic_ai.all_messages"]  # kept whole
    first_run = row({**agent, "pydantic_ai.new_message_index": None, "final_result": "Paris."})
    assert loads(first_run["inputs"]) == {"messages": [{"role": "user", "content": "Earlier?"}]}
    with_deps = row({**agent, "spanlite.agent.deps": '{"user_id": "u1"}'})
    assert loads(with_deps["inputs"]) == {"messages": prompt, "deps": {"user_id": "u1"}}
    assert loads(first_run["outputs"]) == "Paris."
    failed = {k: v for k, v in agent.items() if k != "final_result"}
    assert loads(row(failed)["outputs"]) is None
    chat = normalize({"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps(run[2:4])})
    assert loads(chat["gen_ai.input.messages"])[1] == {"role": "user", "content": "sunny", "tool_call_id": "c1"}
    attempt = row({"gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai", "pydantic_ai.model_request.attempt": 0})
    assert (attempt["kind"], attempt["model"]) == ("CHAT_MODEL", "gpt-4o")


def test_mlflow_attributes() -> None:
    """As MLflow's OTLP export writes them: every value JSON text, trace tags on the root span."""
    root = {
        "mlflow.traceRequestId": '"tr-0123"',
        "mlflow.spanType": '"CHAT_MODEL"',
        "mlflow.spanFunctionName": '"answer"',
        "mlflow.spanInputs": json.dumps({"messages": MESSAGES_IN}),
        "mlflow.spanOutputs": '"Paris."',
        "mlflow.chat.tokenUsage": '{"input_tokens": 12, "output_tokens": 3, "total_tokens": 15, '
        '"cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}',
        "mlflow.llm.model": '"claude-sonnet-4"',
        "mlflow.llm.provider": '"anthropic"',
        "mlflow.chat.tools": '[{"type": "function", "function": {"name": "get_weather"}}]',
        "mlflow.traceTag.env": "prod",  # written by MLflow as it is, not as JSON
        "mlflow.traceTag.team": "search",
        "temperature": "0.5",
        "region": '"eu"',
    }
    r = row(root)
    assert (r["kind"], r["model"], r["input_tokens"], r["output_tokens"]) == ("CHAT_MODEL", "claude-sonnet-4", 12, 3)
    assert (loads(r["inputs"]), loads(r["outputs"])) == ({"messages": MESSAGES_IN}, "Paris.")
    assert r["trace_facts"] == {"spanlite.trace.metadata": '{"env":"prod","team":"search"}'}
    assert loads(r["attributes"]) == {
        "mlflow.traceRequestId": "tr-0123",
        "mlflow.chat.tokenUsage": root["mlflow.chat.tokenUsage"],  # kept: the total is only there
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.usage.cache_read.input_tokens": 2,
        "gen_ai.usage.cache_creation.input_tokens": 1,
        "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.provider.name": "anthropic",
        "code.function.name": "answer",
        "gen_ai.tool.definitions": '[{"type":"function","function":{"name":"get_weather"}}]',
        "temperature": "0.5",
        "region": "eu",
        "spanlite.trace.metadata": '{"env":"prod","team":"search"}',
    }
    kinds = {t: row({"mlflow.spanType": json.dumps(t)})["kind"] for t in ("RETRIEVER", "WORKFLOW", "MEMORY", "LLM")}
    assert kinds == {"RETRIEVER": "RETRIEVER", "WORKFLOW": "CHAIN", "MEMORY": "UNKNOWN", "LLM": "LLM"}
    assert loads(row({"mlflow.spanType": '"MEMORY"'})["attributes"]) == {"mlflow.spanType": '"MEMORY"'}
    # MLFLOW_ENABLE_OTEL_GENAI_SEMCONV: MLflow's span types without a GenAI operation, as they are
    semconv = {op: row({"gen_ai.operation.name": op})["kind"] for op in ("RETRIEVER", "CHAIN", "PARSER", "WORKFLOW")}
    assert semconv == {"RETRIEVER": "RETRIEVER", "CHAIN": "CHAIN", "PARSER": "PARSER", "WORKFLOW": "CHAIN"}


def test_a_model_operation_wins_over_a_traceloop_span_kind() -> None:
    chat = row({"traceloop.span.kind": "workflow", "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 11})
    assert (chat["kind"], chat["input_tokens"]) == ("CHAT_MODEL", 11)
    assert row({"traceloop.span.kind": "task", "llm.request.type": "embedding"})["kind"] == "EMBEDDING"
    assert row({"traceloop.span.kind": "workflow", "gen_ai.operation.name": "execute_tool"})["kind"] == "CHAIN"
    assert row({"traceloop.span.kind": "workflow", "gen_ai.input.messages": "[]"})["kind"] == "CHAIN"
    assert row({"openinference.span.kind": "CHAIN", "gen_ai.operation.name": "chat"})["kind"] == "CHAIN"


def test_our_own_and_plain_spans_pass_through() -> None:
    ours = {
        "spanlite.span.kind": "TOOL", "spanlite.inputs": '{"q": 1}', "input.value": "not ours to map",
        "gen_ai.prompt.0.content": "kept", "llm.token_count.prompt": 7,
    }  # fmt: skip
    assert normalize(ours) == ours
    plain = {"http.method": "GET", "http.route": "/ask", "metadata": "kept: no openinference kind"}
    assert normalize(plain) == plain
    assert row(plain)["kind"] == "UNKNOWN"


@pytest.mark.parametrize(
    ("attributes", "added"),
    [
        ({"openinference.span.kind": "TOOL"}, {"spanlite.span.kind": "TOOL"}),
        ({"traceloop.span.kind": "agent"}, {"spanlite.span.kind": "AGENT"}),
        ({"traceloop.entity.input": "[1]"}, {"spanlite.inputs": "[1]"}),
        ({"traceloop.association.properties.user_id": "ada"}, {"user.id": "ada"}),
        ({"gen_ai.usage.prompt_tokens": 5}, {"gen_ai.usage.input_tokens": 5}),
        ({"gen_ai.system": "openai"}, {"gen_ai.provider.name": "openai"}),
        ({"llm.request.type": "chat"}, {"spanlite.span.kind": "CHAT_MODEL"}),
    ],
)
def test_one_foreign_key_among_plain_ones_is_mapped(attributes: dict[str, Any], added: dict[str, Any]) -> None:
    plain = {"http.route": "/ask", "db.system": "sqlite"}
    normalized = normalize({**plain, **attributes})
    assert {k: normalized[k] for k in added} == added
    assert {k: normalized[k] for k in plain} == plain


@pytest.mark.parametrize(
    "attributes",
    [
        {"openinference.span.kind": None, "llm.input_messages.x.message.role": 1},
        {"openinference.span.kind": 5, "llm.input_messages.0": "flat", "tag.tags": 3, "metadata": [1]},
        {"gen_ai.input.messages": '[1, {"parts": 3}, {"parts": [null, {"type": "tool_call_response"}]}]'},
        {"gen_ai.input.messages": "not json", "gen_ai.usage.prompt_tokens": "many", "llm.request.type": ["chat"]},
        {"traceloop.span.kind": None, "gen_ai.prompt.0.tool_calls.0.arguments": "[", "gen_ai.prompt.99999999.role": 1},
        {
            "mlflow.spanType": 5,
            "mlflow.chat.tokenUsage": '{"input_tokens": "many"}',
            "mlflow.llm.model": "{",
            "mlflow.traceTag.": ["x"],
            "mlflow.traceRequestId": 3,
            "mlflow.spanInputs": "not json",
            "a": '"',
        },
        {"mlflow.spanType": '"TOOL"', "mlflow.chat.tokenUsage": "[1]", "mlflow.llm.model": '{"a": 1}'},
    ],
)
def test_odd_values_never_raise(attributes: dict[str, Any]) -> None:
    row(attributes)


# End to end: the real instrumentors around the real OpenAI SDK, through the receiver into the store.


class _FakeOpenAI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
            "model": request["model"] + "-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def openai_base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore:Support for class-based `config`:DeprecationWarning")  # OpenLLMetry on pydantic 2
@pytest.mark.parametrize("instrumentor", ["openinference", "openllmetry"])
def test_real_instrumentors_through_the_receiver(tmp_path: Path, openai_base_url: str, instrumentor: str) -> None:
    openai = pytest.importorskip("openai")
    if instrumentor == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]

    with start_receiver(tmp_path / "received.db") as receiver:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
        instrumentation = OpenAIInstrumentor()
        instrumentation.instrument(tracer_provider=provider)
        try:
            client = openai.OpenAI(base_url=openai_base_url, api_key="test")
            reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES_IN)
        finally:
            instrumentation.uninstrument()
        provider.shutdown()
    assert reply.choices[0].message.content == "Paris."

    with TraceStore(receiver.db_path) as store:
        [summary] = store.search_traces()
        trace = store.get_trace(summary.trace_id)
    assert trace is not None
    [span] = trace.spans
    assert (span.kind, span.model, span.input_tokens, span.output_tokens) == (
        "CHAT_MODEL", "gpt-4o-2024-08-06", 12, 3,
    )  # fmt: skip
    assert loads(span.attributes["gen_ai.input.messages"]) == MESSAGES_IN
    assert loads(span.attributes["gen_ai.output.messages"])[0]["content"] == "Paris."
    assert "Capital of France?" in orjson.dumps(span.inputs).decode()
    assert "Paris." in orjson.dumps(span.outputs).decode()
    assert (summary.input_tokens, summary.output_tokens) == (12, 3)
