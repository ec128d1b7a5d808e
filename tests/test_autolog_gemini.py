"""autolog for Google's google-genai SDK: the real client over real HTTP against a fake Gemini server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

import fake_llm_server as fake
import spanlite
from fake_gemini import ARGS, THOUGHT, TOOL_ANSWER, FakeGeminiServer
from fake_llm_server import EMBEDDING, TEXT
from spanlite.store import SpanRecord, TraceStore
from spanlite.tracing import attributes as attr

MODEL = "gemini-2.5-flash"
WEATHER = {"name": "weather", "description": "Weather in a city", "parameters": {"type": "OBJECT"}}
TOOLS = [{"function_declarations": [WEATHER]}]
THINKING = {"include_thoughts": True}
_clients: dict[str, genai.Client] = {}
# The SDK's async client subclasses aiohttp's session (when aiohttp is installed), which aiohttp warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGeminiServer]:
    srv = FakeGeminiServer().start()
    yield srv
    for client in _clients.values():
        client.close()
    _clients.clear()
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("gemini", disable=True)


def new_client(server: FakeGeminiServer, **kwargs: Any) -> genai.Client:
    return genai.Client(api_key="test", http_options={"base_url": server.url}, **kwargs)


def client(server: FakeGeminiServer) -> genai.Client:
    """The module's one sync client; patches act on the classes, so sharing it is fine."""
    if server.url not in _clients:
        _clients[server.url] = new_client(server)
    return _clients[server.url]


def run_async(server: FakeGeminiServer, body: Callable[[Any], Any]) -> Callable[[], Any]:
    """``body(client.aio)`` on a fresh client and event loop (an async session belongs to one loop)."""

    async def main() -> Any:
        c = new_client(server)
        try:
            return await body(c.aio)
        finally:
            await c.aio.aclose()

    return lambda: asyncio.run(main())


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    return fake.both("gemini", scenario, errors.APIError)


def dump(value: Any) -> Any:
    return value.model_dump(exclude={"sdk_http_response"}) if hasattr(value, "model_dump") else value


def generate(server: FakeGeminiServer, model: str, stream: bool, **config: Any) -> Callable[[], Any]:
    def run() -> Any:
        models = client(server).models
        if stream:
            return [dump(c) for c in models.generate_content_stream(model=model, contents="Hi", config=config)]
        return dump(models.generate_content(model=model, contents="Hi", config=config))

    return run


def generate_async(server: FakeGeminiServer, model: str, stream: bool, **config: Any) -> Callable[[], Any]:
    async def body(aio: Any) -> Any:
        if stream:
            chunks = await aio.models.generate_content_stream(model=model, contents="Hi", config=config)
            return [dump(c) async for c in chunks]
        return dump(await aio.models.generate_content(model=model, contents="Hi", config=config))

    return run_async(server, body)


def chat(server: FakeGeminiServer, model: str, stream: bool, **config: Any) -> Callable[[], Any]:
    def run() -> Any:
        session = client(server).chats.create(model=model, config=config)
        if stream:
            return [dump(c) for c in session.send_message_stream("Hi")]
        return dump(session.send_message("Hi"))

    return run


def chat_async(server: FakeGeminiServer, model: str, stream: bool, **config: Any) -> Callable[[], Any]:
    async def body(aio: Any) -> Any:
        session = aio.chats.create(model=model, config=config)
        if stream:
            return [dump(c) async for c in await session.send_message_stream("Hi")]
        return dump(await session.send_message("Hi"))

    return run_async(server, body)


def _usage(**more: Any) -> dict[str, Any]:
    return {
        attr.GEN_AI_USAGE_INPUT_TOKENS: 12,  # Gemini's prompt count includes the 3 cached tokens
        attr.GEN_AI_USAGE_OUTPUT_TOKENS: 7,  # 5 candidate tokens + 2 thinking tokens, both billed as output
        attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 3,
        attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 2,
        **more,
    }


@pytest.mark.parametrize("model", [MODEL, "error-429", "error-500"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("make", [generate, generate_async, chat, chat_async], ids=["sync", "async", "chat", "achat"])
def test_generate_matrix(server: FakeGeminiServer, make: Any, stream: bool, model: str) -> None:
    """One span per call, also for a chat, whose send_message goes through models.generate_content."""
    seen, span = both(make(server, model, stream, system_instruction="Be brief."))
    a = span.attributes
    assert span.name == f"generate_content {model}" and span.kind == "CHAT_MODEL"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "gcp.gemini" and a[attr.GEN_AI_OPERATION_NAME] == "generate_content"
    if model.startswith("error"):
        status = int(model.split("-")[1])
        assert seen[0] == "error" and issubclass(seen[1], errors.APIError) and seen[3].startswith(str(status))
        assert span.status == "ERROR" and a[attr.HTTP_RESPONSE_STATUS_CODE] == status
        assert [e["name"] for e in span.events] == [attr.EVENT_EXCEPTION]
        return
    assert span.status == "OK"
    assert a[attr.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "Be brief."}]
    assert a[attr.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "STOP"}
    ]
    assert {k: a[k] for k in _usage()} == _usage()
    assert a[attr.GEN_AI_RESPONSE_ID] == "resp_1" and a[attr.GEN_AI_RESPONSE_MODEL] == f"{MODEL}-001"
    if stream:
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN]
        assert a[attr.STREAM] is True and a[attr.STREAM_CLOSED_EARLY] is False


def test_whole_span_with_tools_and_thinking(server: FakeGeminiServer) -> None:
    config = {
        "system_instruction": "Be brief.",
        "tools": TOOLS,
        "thinking_config": THINKING,
        "temperature": 0.5,
        "max_output_tokens": 100,
        "stop_sequences": ["END"],
    }
    _, span = both(generate(server, MODEL, False, **config))
    assert span.attributes == {
        attr.GEN_AI_OPERATION_NAME: "generate_content",
        attr.GEN_AI_PROVIDER_NAME: "gcp.gemini",
        attr.GEN_AI_REQUEST_MODEL: MODEL,
        attr.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        attr.GEN_AI_REQUEST_MAX_TOKENS: 100,
        attr.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
        attr.GEN_AI_TOOL_DEFINITIONS: [{"type": "function", **WEATHER}],
        attr.GEN_AI_SYSTEM_INSTRUCTIONS: [{"type": "text", "content": "Be brief."}],
        attr.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
        attr.GEN_AI_RESPONSE_ID: "resp_1",
        attr.GEN_AI_RESPONSE_MODEL: f"{MODEL}-001",
        attr.GEN_AI_RESPONSE_FINISH_REASONS: ["STOP"],
        **_usage(),
        attr.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": THOUGHT},
                    {"type": "tool_call", "id": None, "name": "weather", "arguments": ARGS},
                ],
                "finish_reason": "STOP",
            }
        ],
    }
    assert span.inputs == {
        "model": MODEL,
        "contents": "Hi",
        "config": {**config, "tools": [{"type": "function", **WEATHER}]},
    }


def test_function_response_goes_back_as_tool_call_response(server: FakeGeminiServer) -> None:
    call = types.Part.from_function_call(name="weather", args=ARGS)
    answer = types.Part.from_function_response(name="weather", response={"forecast": "sunny"})
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")]),
        types.Content(role="model", parts=[call]),
        types.Content(role="user", parts=[answer]),
    ]

    def run() -> Any:
        return dump(client(server).models.generate_content(model=MODEL, contents=contents, config={"tools": TOOLS}))

    _, span = both(run)
    assert span.attributes[attr.GEN_AI_INPUT_MESSAGES] == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": None, "name": "weather", "arguments": ARGS}]},
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": None, "name": "weather", "response": {"forecast": "sunny"}}],
        },
    ]
    assert span.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": TOOL_ANSWER}]


@pytest.mark.parametrize("make", [generate, generate_async], ids=["sync", "async"])
def test_streamed_tools_and_thinking_are_reassembled(server: FakeGeminiServer, make: Any) -> None:
    _, streamed = both(make(server, MODEL, True, tools=TOOLS, thinking_config=THINKING))
    _, whole = both(make(server, MODEL, False, tools=TOOLS, thinking_config=THINKING))
    for key in (attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_RESPONSE_FINISH_REASONS, *_usage()):
        assert streamed.attributes[key] == whole.attributes[key]
    assert streamed.outputs["candidates"][0]["content"]["parts"][1]["function_call"]["args"] == ARGS


@pytest.mark.parametrize("make", [generate, generate_async], ids=["sync", "async"])
def test_stream_error_midway(server: FakeGeminiServer, make: Any) -> None:
    seen, span = both(make(server, "stream-error", True))
    assert seen[0] == "error" and span.status == "ERROR"
    assert span.attributes[attr.HTTP_RESPONSE_STATUS_CODE] == 500
    assert span.outputs["candidates"][0]["content"]["parts"] == [{"text": "Hello"}]  # what arrived before the error


def _first_then(server: FakeGeminiServer, how: str) -> Callable[[], Any]:
    def run() -> Any:
        stream = client(server).models.generate_content_stream(model=MODEL, contents="Hi")
        first = next(stream)
        if how == "close":
            stream.close()
        else:
            del stream
            gc.collect()
        return dump(first)

    return run


@pytest.mark.parametrize("how", ["close", "garbage"])
def test_early_close_ends_span_once(server: FakeGeminiServer, how: str) -> None:
    _, span = both(_first_then(server, how))
    assert span.status == "OK" and span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "resp_1"


def test_async_early_close(server: FakeGeminiServer) -> None:
    async def body(aio: Any) -> Any:
        stream = await aio.models.generate_content_stream(model=MODEL, contents="Hi")
        first = await stream.__anext__()
        await stream.aclose()
        return dump(first)

    _, span = both(run_async(server, body))
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True


def test_chat_with_automatic_function_calling_is_one_span_per_request(server: FakeGeminiServer) -> None:
    """A chat turn that calls a Python function makes two requests, each billed: two model spans, no chat span."""

    def weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    def run() -> Any:
        session = client(server).chats.create(model=MODEL, config={"tools": [weather]})
        return dump(session.send_message("Weather in Paris?"))

    spanlite.autolog("gemini")
    seen, spans = fake.observe(run, errors.APIError)
    assert seen[1]["candidates"][0]["content"]["parts"][0]["text"] == TOOL_ANSWER
    spans = [fake.decoded(s) for s in sorted(spans, key=lambda s: s.start_ns)]
    assert [s.name for s in spans] == [f"generate_content {MODEL}"] * 2
    first, second = (s.attributes for s in spans)
    assert first[attr.GEN_AI_TOOL_DEFINITIONS] == [
        {"type": "function", "name": "weather", "description": "Weather in a city."}
    ]
    assert first[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"][0]["type"] == "tool_call"
    response = second[attr.GEN_AI_INPUT_MESSAGES][-1]
    sent = server.requests[-1][1]["contents"][-1]["parts"][0]["functionResponse"]
    assert response["role"] == "tool" and response["parts"][0]["response"] == sent["response"]
    assert first[attr.GEN_AI_USAGE_INPUT_TOKENS] == second[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


def embed(server: FakeGeminiServer) -> Callable[[], Any]:
    return lambda: dump(client(server).models.embed_content(model="text-embedding-004", contents=["a", "b"]))


def embed_async(server: FakeGeminiServer) -> Callable[[], Any]:
    async def body(aio: Any) -> Any:
        return dump(await aio.models.embed_content(model="text-embedding-004", contents=["a", "b"]))

    return run_async(server, body)


@pytest.mark.parametrize("make", [embed, embed_async], ids=["sync", "async"])
def test_embed_content(server: FakeGeminiServer, make: Any) -> None:
    seen, span = both(make(server))
    assert [e["values"] for e in seen[1]["embeddings"]] == [EMBEDDING, EMBEDDING]
    assert span.name == "embeddings text-embedding-004" and span.kind == "EMBEDDING"
    assert span.attributes[attr.GEN_AI_OPERATION_NAME] == "embeddings"
    assert span.inputs == {"model": "text-embedding-004", "contents": ["a", "b"]}
    assert span.outputs["embeddings"] == [{"index": 0, "dimensions": 3}, {"index": 1, "dimensions": 3}]


def test_embed_error(server: FakeGeminiServer) -> None:
    def run() -> Any:
        return client(server).models.embed_content(model="error-429", contents="a")

    seen, span = both(run)
    assert seen[1] is errors.ClientError and span.attributes[attr.HTTP_RESPONSE_STATUS_CODE] == 429


def test_vertex_client_is_named_vertex_ai(server: FakeGeminiServer) -> None:
    """Vertex AI express mode (an API key, no Google credentials) runs offline: same SDK, Vertex's paths."""
    vertex = new_client(server, vertexai=True)

    def run() -> Any:
        return dump(vertex.models.generate_content(model=MODEL, contents="Hi"))

    try:
        _, span = both(run)
    finally:
        vertex.close()
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert server.requests[-1][0] == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"


def test_vertex_embeddings_count_their_tokens(server: FakeGeminiServer) -> None:
    vertex = new_client(server, vertexai=True)

    def run() -> Any:
        return dump(vertex.models.embed_content(model="text-embedding-004", contents=["a", "b"]))

    try:
        _, span = both(run)
    finally:
        vertex.close()
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 4  # 2 per text, as Vertex counts them
    assert server.requests[-1][0] == "/v1beta1/publishers/google/models/text-embedding-004:predict"


def test_capture_content_false(server: FakeGeminiServer, db_path: Any) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(generate(server, MODEL, True, system_instruction="secret", tools=TOOLS, temperature=0.5))
    for key in (attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert key not in span.attributes
    assert span.outputs is None
    assert span.inputs == {"model": MODEL, "config": {"tools": [{"type": "function", **WEATHER}], "temperature": 0.5}}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 7


def test_http_options_never_reach_the_span(server: FakeGeminiServer) -> None:
    headers = {"x-goog-api-key": "secret-key"}
    _, span = both(generate(server, MODEL, False, http_options={"headers": headers}))
    assert "secret-key" not in str(span.inputs) and "secret-key" not in str(span.attributes)


@pytest.mark.parametrize("alias", ["gemini", "google-genai", "google_genai", "genai", "google.genai"])
def test_aliases_and_disable_restore_everything(alias: str) -> None:
    from google.genai.models import AsyncModels, Models

    names = ("_generate_content", "_generate_content_stream", "embed_content")
    originals = [cls.__dict__[n] for cls in (Models, AsyncModels) for n in names]
    spanlite.autolog(alias)
    spanlite.autolog(alias)
    assert all(cls.__dict__[n] is not o for (cls, n), o in zip(_pairs(Models, AsyncModels, names), originals))
    spanlite.autolog("genai", disable=True)
    assert [cls.__dict__[n] for cls, n in _pairs(Models, AsyncModels, names)] == originals


def _pairs(sync: type, async_: type, names: tuple[str, ...]) -> list[tuple[type, str]]:
    return [(cls, n) for cls in (sync, async_) for n in names]


# a failure inside our recording never changes what the caller gets ----------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("spanlite bug")


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLITE_STRICT")


def test_failing_recorder_returns_sdk_response(server: FakeGeminiServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _record

    monkeypatch.setattr(_record, "usage_attributes", _boom)
    spanlite.autolog("gemini")
    response = client(server).models.generate_content(model=MODEL, contents="Hi")
    assert type(response) is types.GenerateContentResponse and response.text == TEXT


def test_failing_stream_accumulator_keeps_chunks(server: FakeGeminiServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog._gemini_stream import ContentStream

    monkeypatch.setattr(ContentStream, "add", _boom)
    seen, span = both(generate(server, MODEL, True))
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in seen[1]) == TEXT
    assert span.status == "OK"


# LangChain on top ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_langchain_over_gemini_is_one_model_span(server: FakeGeminiServer, stream: bool) -> None:
    """ChatGoogleGenerativeAI calls google-genai: its model span stands, the SDK's request adds none."""
    from langchain_google_genai import ChatGoogleGenerativeAI

    model = ChatGoogleGenerativeAI(model=MODEL, google_api_key="test", base_url=server.url)
    spanlite.autolog("langchain_core", "gemini")
    try:
        with spanlite.start_span("test") as root:
            if stream:
                text = "".join(str(chunk.content) for chunk in model.stream("Hi"))
            else:
                text = str(model.invoke("Hi").content)
    finally:
        spanlite.autolog("langchain_core", disable=True)
    assert text == TEXT
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    models = [s for s in trace.spans if s.kind == "CHAT_MODEL"]
    assert len(models) == 1 and not models[0].name.startswith("generate_content")
    assert models[0].input_tokens == 12


# the example app ---------------------------------------------------------------------------------------------------


def test_example_app_writes_a_trace(tmp_path: Path) -> None:
    """``spanlite run -- python examples/gemini_app.py --fake`` (what its docstring says to run) leaves its trace,
    model spans and cost included, though the app turns no autolog on itself."""
    db = tmp_path / "example.db"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SPANLITE_DB": str(db), "SPANLITE_STRICT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "run", "--", sys.executable, "examples/gemini_app.py", "--fake"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == TOOL_ANSWER + "\n"
    with TraceStore(db) as store:
        (trace,) = store.iter_traces()
        assert trace.cost is not None and trace.cost > 0
        spans = sorted(store.get_trace(trace.trace_id).spans, key=lambda s: s.start_ns)  # type: ignore[union-attr]
    assert [(s.name, s.kind) for s in spans] == [
        ("weather question", "AGENT"),
        (f"generate_content {MODEL}", "CHAT_MODEL"),
        ("get_weather", "TOOL"),
        (f"generate_content {MODEL}", "CHAT_MODEL"),
    ]
    answer = json.loads(spans[3].attributes[attr.GEN_AI_INPUT_MESSAGES])[-1]
    assert answer["role"] == "tool" and answer["parts"][0]["name"] == "get_weather"
    assert trace.input_tokens == 24
