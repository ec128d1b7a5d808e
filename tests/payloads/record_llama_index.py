"""Record the OTLP bodies that OpenInference and OpenLLMetry send for a small LlamaIndex app.

The app: a chat call on LlamaIndex's OpenAI LLM, a chat on a ``CustomLLM`` (whose ``chat`` calls its own
``complete``, as LlamaIndex's base class does, so both spans carry the same usage), and a query over a two-document
vector index (a retriever span with documents). The model is a fake OpenAI server on loopback; the spans go to a
capture server on loopback, whose bodies are written as ``llama_index_<instrumentor>.pb``.

Not run by the tests (LlamaIndex is heavy); run it by hand in a venv with the packages below to record again:

    pip install llama-index-core llama-index-llms-openai openinference-instrumentation-llama-index \
        opentelemetry-instrumentation-llamaindex opentelemetry-exporter-otlp-proto-http
    python tests/payloads/record_llama_index.py

Recorded with llama-index-core 0.14.25, llama-index-llms-openai 0.8.3, openinference-instrumentation-llama-index
4.6.1, opentelemetry-instrumentation-llamaindex 0.62.4, opentelemetry-sdk 1.45.2, Python 3.11.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).parent
USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


class FakeOpenAI(BaseHTTPRequestHandler):
    """Chat completions and completions, each answering "Paris." with ``USAGE``."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        common = {"id": "cmpl-1", "created": 1_700_000_000, "model": request["model"], "usage": USAGE}
        if self.path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
            body = {**common, "object": "chat.completion", "choices": [choice]}
        else:
            body = {**common, "object": "text_completion", "choices": [
                {"index": 0, "text": "Paris.", "finish_reason": "stop", "logprobs": None}
            ]}  # fmt: skip
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Capture(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        Capture.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


APP = '''
import sys
from typing import Any

import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

instrumentor, llm_base, otlp = sys.argv[1:4]
provider = TracerProvider(resource=Resource.create({"service.name": "llama-index-app"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=otlp)))
if instrumentor == "openinference":
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor
else:
    from opentelemetry.instrumentation.llamaindex import LlamaIndexInstrumentor
LlamaIndexInstrumentor().instrument(tracer_provider=provider)

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import ChatMessage, CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.llms.openai import OpenAI


class CompletionsLLM(CustomLLM):
    """A completions-only model, as many community integrations are: ``chat`` goes through ``complete``."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="gpt-3.5-turbo-instruct", is_chat_model=False)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        client = openai.OpenAI(base_url=llm_base, api_key="test")
        raw = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt)
        return CompletionResponse(text=raw.choices[0].text, raw=raw)

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
        raise NotImplementedError


question = [ChatMessage(role="user", content="Capital of France?")]
OpenAI(model="gpt-4o", api_base=llm_base, api_key="test").chat(question)
CompletionsLLM().chat(question)
Settings.embed_model = MockEmbedding(embed_dim=8)
index = VectorStoreIndex.from_documents([
    Document(text="Paris is the capital of France.", doc_id="doc-paris", metadata={"source": "wiki"}),
    Document(text="Lyon is a city in France.", doc_id="doc-lyon", metadata={"source": "atlas"}),
])
engine = index.as_query_engine(llm=OpenAI(model="gpt-4o", api_base=llm_base, api_key="test"), similarity_top_k=2)
engine.query("What is the capital of France?")
provider.shutdown()
'''


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    model, capture = serve(FakeOpenAI), serve(Capture)
    llm_base = f"http://127.0.0.1:{model.server_address[1]}/v1"
    otlp = f"http://127.0.0.1:{capture.server_address[1]}/v1/traces"
    for instrumentor in ("openinference", "openllmetry"):
        Capture.bodies.clear()
        env = {"OPENAI_API_KEY": "test", "TRACELOOP_TRACE_CONTENT": "true", "PATH": "/usr/bin:/bin"}
        subprocess.run([sys.executable, "-c", APP, instrumentor, llm_base, otlp], env=env, check=True, timeout=300)
        # One export request per span (SimpleSpanProcessor): joined as one request, protobuf concatenation merges them.
        (HERE / f"llama_index_{instrumentor}.pb").write_bytes(b"".join(Capture.bodies))
        print(instrumentor, len(Capture.bodies), "spans")


if __name__ == "__main__":
    main()
