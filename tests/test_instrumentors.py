"""Spans from other tracing libraries, through a real receiver into the store: what lands where.

MLflow's tracing SDK runs live (``mlflow-tracing``, exporting over OTLP as its users configure it). LlamaIndex under
OpenInference and OpenLLMetry is too heavy for the test extra: its spans are the OTLP bodies those libraries sent,
recorded once by ``payloads/record_llama_index.py`` (which says with which versions).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from streamlit.testing.v1 import AppTest

import spanlite
from fake_llm_server import TEXT, FakeLLMServer
from spanlite.otlp import start_receiver
from spanlite.store import SpanRecord, TraceStore, views

PAYLOADS = Path(__file__).parent / "payloads"
APP = Path(spanlite.__file__).parent.parent / "viewer" / "app.py"


def send(endpoint: str, *bodies: bytes) -> None:
    """POST each protobuf body as one OTLP export request, as an OTel exporter does."""
    for body in bodies:
        request = urllib.request.Request(endpoint, body, {"Content-Type": "application/x-protobuf"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200


def recorded(name: str) -> bytes:
    return (PAYLOADS / f"llama_index_{name}.pb").read_bytes()


def one_request_per_span(body: bytes) -> dict[str, bytes]:
    """A recorded body (one resource span per export) split back into the requests it was, keyed by span name;
    the bytes of each span are the library's own."""
    requests = {}
    for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
        [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
        requests.setdefault(span.name, ExportTraceServiceRequest(resource_spans=[resource_spans]).SerializeToString())
    return requests


def spans_by_name(db_path: Path) -> dict[str, SpanRecord]:
    """Every stored span by name (the first of each name, in start order)."""
    with TraceStore(db_path) as store:
        spans = [s for t in store.iter_traces() for s in store.get_trace(t.trace_id).spans]  # type: ignore[union-attr]
    by_name: dict[str, SpanRecord] = {}
    for span in sorted(spans, key=lambda s: s.start_ns):
        by_name.setdefault(span.name, span)
    return by_name


def trace_tokens(db_path: Path, trace_id: str) -> tuple[int | None, int | None]:
    with TraceStore(db_path) as store:
        info = store.get_trace(trace_id).info  # type: ignore[union-attr]
    return info.input_tokens, info.output_tokens


# MLflow, live.

MLFLOW_APP = """
import sys

import mlflow
import openai
from mlflow.entities import Document

mlflow.openai.autolog()
client = openai.OpenAI(base_url=sys.argv[1], api_key="test")


@mlflow.trace(span_type="RETRIEVER")
def retrieve(query: str) -> list[Document]:
    return [Document(page_content="Paris is the capital of France.", metadata={"source": "wiki"}, id="doc-1")]


@mlflow.trace(span_type="TOOL")
def weather(city: str) -> str:
    return "18C"


@mlflow.trace(span_type="AGENT", attributes={"team": "search"})
def answer(question: str) -> str:
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content


@mlflow.trace(span_type="CHAIN")
def rag(question: str) -> str:
    retrieve(question)
    weather("Paris")
    return answer(question)


print(rag("Capital of France?"))
"""


def run_mlflow_app(endpoint: str, llm_url: str, **env: str) -> None:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "MLFLOW_"))},
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",  # MLflow's default is gRPC: spanlite does not speak it
        # mlflow-tracing 3.17 without a tracking URI imports its file store, which needs a package it does not
        # install (sqlparse); a URI it never contacts in OTLP mode avoids that.
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "MLFLOW_DISABLE_TELEMETRY": "true",  # nothing leaves loopback
        "DO_NOT_TRACK": "true",
        **env,
    }
    argv = [sys.executable, "-c", MLFLOW_APP, f"{llm_url}/v1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == TEXT


# Run in a child process only: importing mlflow here would leave its state in the test process.
needs_mlflow = pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow-tracing not installed")


@pytest.fixture
def llm_server() -> Any:
    server = FakeLLMServer().start()
    yield server
    server.stop()


@needs_mlflow
def test_mlflow_spans_land_with_kind_inputs_outputs_model_and_tokens(tmp_path: Path, llm_server: FakeLLMServer) -> None:
    with start_receiver(tmp_path / "mlflow.db") as receiver:
        run_mlflow_app(receiver.endpoint, llm_server.url)
    spans = spans_by_name(receiver.db_path)
    assert {name: s.kind for name, s in spans.items()} == {
        "rag": "CHAIN", "retrieve": "RETRIEVER", "weather": "TOOL", "answer": "AGENT", "Completions": "CHAT_MODEL",
    }  # fmt: skip
    rag, retrieve, weather, answer, chat = (spans[n] for n in ("rag", "retrieve", "weather", "answer", "Completions"))
    assert (rag.inputs, rag.outputs) == ({"question": "Capital of France?"}, TEXT)
    assert retrieve.outputs == [
        {"page_content": "Paris is the capital of France.", "metadata": {"source": "wiki"}, "id": "doc-1"}
    ]
    assert (weather.inputs, weather.outputs) == ({"city": "Paris"}, "18C")
    assert (chat.model, chat.input_tokens, chat.output_tokens) == ("gpt-4o-2024", 12, 5)
    assert chat.inputs["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert chat.outputs["choices"][0]["message"]["content"] == TEXT
    assert chat.attributes["mlflow.message.format"] == "openai"
    assert chat.attributes["model"] == "gpt-4o"  # MLflow writes every value as JSON: '"gpt-4o"' was a string
    assert (answer.attributes["team"], answer.attributes["code.function.name"]) == ("search", "answer")
    moved = (
        "mlflow.spanType", "mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.llm.model", "mlflow.spanFunctionName",
    )  # fmt: skip
    assert not any(k in s.attributes for s in spans.values() for k in moved)
    with TraceStore(receiver.db_path) as store:
        [trace] = store.search_traces()
    assert (trace.name, trace.status, trace.input_tokens, trace.output_tokens) == ("rag", "OK", 12, 5)


@needs_mlflow
def test_mlflow_genai_semconv_mode_keeps_mlflows_own_span_types(tmp_path: Path, llm_server: FakeLLMServer) -> None:
    """With MLFLOW_ENABLE_OTEL_GENAI_SEMCONV, MLflow writes its span types that have no GenAI operation as they are
    (``gen_ai.operation.name=RETRIEVER``) and drops inputs and outputs but a tool's and a model's."""
    with start_receiver(tmp_path / "semconv.db") as receiver:
        run_mlflow_app(receiver.endpoint, llm_server.url, MLFLOW_ENABLE_OTEL_GENAI_SEMCONV="true")
    spans = spans_by_name(receiver.db_path)
    assert {name: s.kind for name, s in spans.items()} == {
        "CHAIN": "CHAIN", "RETRIEVER": "RETRIEVER", "execute_tool weather": "TOOL", "invoke_agent answer": "AGENT",
        "chat gpt-4o-2024": "CHAT_MODEL",
    }  # fmt: skip  # MLflow names a span after its operation, and a target where it has one
    chat = spans["chat gpt-4o-2024"]
    assert (chat.model, chat.input_tokens, chat.output_tokens) == ("gpt-4o-2024", 12, 5)
    assert spans["execute_tool weather"].outputs == "18C"


# LlamaIndex under OpenLLMetry and OpenInference, as recorded.


def test_openllmetry_model_operation_wins_over_workflow(tmp_path: Path) -> None:
    """OpenLLMetry marks a LlamaIndex call at the root of a trace a ``workflow``; its ``gen_ai.operation.name``
    says what it is."""
    with start_receiver(tmp_path / "openllmetry.db") as receiver:
        send(receiver.endpoint, recorded("openllmetry"))
    spans = spans_by_name(receiver.db_path)
    chat = spans["CompletionsLLM.workflow"]
    assert (chat.kind, chat.model, chat.input_tokens, chat.output_tokens) == (
        "CHAT_MODEL", "gpt-3.5-turbo-instruct", 11, 3,
    )  # fmt: skip
    assert orjson.loads(chat.attributes["gen_ai.output.messages"])[0]["content"] == "Paris."
    assert spans["MockEmbedding.workflow"].kind == "EMBEDDING"
    assert (spans["RetrieverQueryEngine.workflow"].kind, spans["CompletionsLLM.task"].kind) == ("CHAIN", "TASK")


def test_openinference_nested_model_spans_count_their_usage_once(tmp_path: Path) -> None:
    """LlamaIndex's ``chat`` on a completions model calls its own ``complete``: OpenInference puts the same usage on
    both spans. A trace counts it once, whichever of the two arrives first, in one request or two."""
    with start_receiver(tmp_path / "openinference.db") as receiver:
        send(receiver.endpoint, recorded("openinference"))
    spans = spans_by_name(receiver.db_path)
    chat, complete = spans["CompletionsLLM.chat"], spans["CompletionsLLM.complete"]
    assert complete.parent_id == chat.span_id
    assert (chat.input_tokens, chat.output_tokens, complete.input_tokens, complete.output_tokens) == (11, 3, 11, 3)
    assert trace_tokens(receiver.db_path, chat.trace_id) == (11, 3)
    assert trace_tokens(receiver.db_path, spans["RetrieverQueryEngine.query"].trace_id) == (11, 3)
    with TraceStore(receiver.db_path) as store:
        by_model = views.overview(store, since_ns=0, bucket_ns=10**18)["by_model"]
    calls = {r["model"]: (r["calls"], r["input_tokens"], r["output_tokens"]) for r in by_model}
    assert calls["gpt-3.5-turbo-instruct"] == (1, 11, 3)

    requests = one_request_per_span(recorded("openinference"))
    for order in itertools.permutations(["CompletionsLLM.chat", "CompletionsLLM.complete"]):
        with start_receiver(tmp_path / f"{'-'.join(order)}.db") as receiver:
            send(receiver.endpoint, *(requests[name] for name in order))
        assert trace_tokens(receiver.db_path, chat.trace_id) == (11, 3), order


def test_openinference_retriever_documents_are_the_outputs(tmp_path: Path) -> None:
    """The retriever span carries ``retrieval.documents.N.document.*`` and an ``output.value`` of object reprs."""
    with start_receiver(tmp_path / "documents.db") as receiver:
        send(receiver.endpoint, recorded("openinference"))
    retrieve = spans_by_name(receiver.db_path)["VectorIndexRetriever.retrieve"]
    assert retrieve.kind == "RETRIEVER"
    assert retrieve.inputs == "What is the capital of France?"
    assert [{k: v for k, v in d.items() if k != "id"} for d in retrieve.outputs] == [
        {"content": "Paris is the capital of France.", "score": 0.9999999999999998, "metadata": {"source": "wiki"}},
        {"content": "Lyon is a city in France.", "score": 0.9999999999999998, "metadata": {"source": "atlas"}},
    ]
    assert all(len(d["id"]) == 36 for d in retrieve.outputs)
    assert retrieve.attributes["output.value"].startswith('["<NodeWithScore(')  # kept, not lost
    assert not any(k.startswith("retrieval.documents.") for k in retrieve.attributes)


def test_the_trace_page_shows_retrieved_documents(db_path: Path) -> None:
    with start_receiver(db_path) as receiver:
        send(receiver.endpoint, recorded("openinference"))
    retrieve = spans_by_name(db_path)["VectorIndexRetriever.retrieve"]
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    at.query_params["trace"] = retrieve.trace_id
    at.query_params["span"] = retrieve.span_id
    at.switch_page("trace_page.py").run()
    assert not at.exception, at.exception
    texts = [t.value for t in at.text]
    assert "Paris is the capital of France." in texts and "Lyon is a city in France." in texts
    captions = [c.value for c in at.caption]
    first = retrieve.outputs[0]["id"].replace("-", "\\-")  # captions are Markdown, escaped
    assert any(
        c.startswith(":material/description: Document 1") and first in c and "score 1\\.000" in c for c in captions
    ), captions
    assert any(j.value == '{"source": "wiki"}' or "wiki" in str(j.value) for j in at.json)
