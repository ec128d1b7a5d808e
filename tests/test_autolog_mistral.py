"""autolog for Mistral's SDK: the real client over real HTTP against a fake server on 127.0.0.1.

Every scenario runs twice, without and with autolog: what the caller sees must be identical, and with autolog
exactly one model span must have ended.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
from mistralai.client import Mistral
from mistralai.client.errors import MistralError

import fake_llm_server as fake
import spanlite
from fake_llm_server import TEXT
from fake_openai_like import THINKING, FakeOpenAILikeServer
from spanlite.store import SpanRecord
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
CALL = {"id": "call_0", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
TOOL_PART = {"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}}
_clients: dict[str, Mistral] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAILikeServer]:
    srv = FakeOpenAILikeServer().start()
    yield srv
    if srv.url in _clients:
        with _clients.pop(srv.url):  # leaving it closes its HTTP client
            pass
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("mistral", disable=True)


def client(server: FakeOpenAILikeServer) -> Mistral:
    """The module's one client for sync calls; patches act on the classes, so sharing it is fine."""
    if server.url not in _clients:
        _clients[server.url] = Mistral(api_key="test", server_url=server.url)
    return _clients[server.url]


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    return fake.both("mistral", scenario, MistralError)


def dump(value: Any) -> Any:
    return value.model_dump() if isinstance(value, pydantic.BaseModel) else value


def chat(server: FakeOpenAILikeServer, stream: bool = False, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        chat = client(server).chat
        if stream:
            return [dump(event) for event in chat.stream(**{"messages": MESSAGES, **kwargs})]
        return dump(chat.complete(**{"messages": MESSAGES, **kwargs}))

    return run


def async_client(server: FakeOpenAILikeServer) -> Mistral:
    """A client for one event loop: its async HTTP pool belongs to the loop that first used it."""
    return Mistral(api_key="test", server_url=server.url)


def chat_async(server: FakeOpenAILikeServer, stream: bool = False, **kwargs: Any) -> Callable[[], Any]:
    async def main() -> Any:
        async with async_client(server) as c:
            if stream:
                return [dump(event) async for event in await c.chat.stream_async(messages=MESSAGES, **kwargs)]
            return dump(await c.chat.complete_async(messages=MESSAGES, **kwargs))

    return lambda: asyncio.run(main())


@pytest.mark.parametrize("model", ["mistral-small", "error-429", "error-500"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("make", [chat, chat_async], ids=["sync", "async"])
def test_chat_matrix(server: FakeOpenAILikeServer, make: Any, stream: bool, model: str) -> None:
    seen, span = both(make(server, stream, model=model, temperature=0.5))
    a = span.attributes
    assert span.name == f"chat {model}" and span.kind == "CHAT_MODEL"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "mistral_ai" and a[attr.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    if model.startswith("error"):
        status = int(model.split("-")[1])
        assert seen[2] == status and span.status == "ERROR"
        assert a[attr.HTTP_RESPONSE_STATUS_CODE] == status
        assert [e["name"] for e in span.events] == ["exception"]
        return
    assert span.status == "OK"
    assert a[attr.GEN_AI_INPUT_MESSAGES][0] == {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "stop"}
    ]
    assert (a[attr.GEN_AI_USAGE_INPUT_TOKENS], a[attr.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert a[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 2  # part of prompt_tokens, as the convention counts
    assert a[attr.GEN_AI_RESPONSE_MODEL] == "mistral-small-2024"
    if stream:
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN]


def test_whole_span_with_tools(server: FakeOpenAILikeServer) -> None:
    _, span = both(chat(server, model="mistral-small", tools=TOOLS, max_tokens=50, stop=["END"]))
    assert span.attributes == {
        attr.GEN_AI_OPERATION_NAME: "chat",
        attr.GEN_AI_PROVIDER_NAME: "mistral_ai",
        attr.GEN_AI_REQUEST_MODEL: "mistral-small",
        attr.GEN_AI_REQUEST_MAX_TOKENS: 50,
        attr.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
        attr.GEN_AI_TOOL_DEFINITIONS: [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        attr.GEN_AI_INPUT_MESSAGES: [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        ],
        attr.GEN_AI_RESPONSE_ID: "cmpl-1",
        attr.GEN_AI_RESPONSE_MODEL: "mistral-small-2024",
        attr.GEN_AI_RESPONSE_FINISH_REASONS: ["tool_calls"],
        attr.GEN_AI_USAGE_INPUT_TOKENS: 12,
        attr.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2,
        attr.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": ""}, TOOL_PART],
                "finish_reason": "tool_calls",
            }
        ],
    }
    inputs = {"model": "mistral-small", "messages": MESSAGES, "tools": TOOLS, "max_tokens": 50, "stop": ["END"]}
    assert span.inputs == inputs
    assert span.outputs["choices"][0]["message"]["tool_calls"][0]["id"] == "call_0"


@pytest.mark.parametrize("make", [chat, chat_async], ids=["sync", "async"])
def test_streamed_tool_calls_are_reassembled(server: FakeOpenAILikeServer, make: Any) -> None:
    _, streamed = both(make(server, True, model="mistral-small", tools=TOOLS))
    _, whole = both(make(server, model="mistral-small", tools=TOOLS))
    for key in (attr.GEN_AI_RESPONSE_FINISH_REASONS, attr.GEN_AI_USAGE_INPUT_TOKENS, attr.GEN_AI_USAGE_OUTPUT_TOKENS):
        assert streamed.attributes[key] == whole.attributes[key]
    # Mistral streams a whole call in one delta (the SDK may parse its arguments as an object): folded as one call.
    assert streamed.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [TOOL_PART]
    assert whole.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"][-1] == TOOL_PART


def test_tool_results_in(server: FakeOpenAILikeServer) -> None:
    messages = [
        *MESSAGES,
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_0", "name": "weather", "content": "Sunny"},
    ]
    _, span = both(chat(server, model="mistral-small", tools=TOOLS, messages=messages))
    assert span.attributes[attr.GEN_AI_INPUT_MESSAGES][2:] == [
        {"role": "assistant", "parts": [{"type": "text", "content": ""}, TOOL_PART]},
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_0", "response": "Sunny"}],
            "name": "weather",
        },
    ]
    assert span.attributes[attr.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_is_a_reasoning_part(server: FakeOpenAILikeServer, stream: bool) -> None:
    _, span = both(chat(server, stream, model="magistral-small"))
    assert span.attributes[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Let me think."}, {"type": "text", "content": TEXT}],
            "finish_reason": "stop",
        }
    ]
    message = span.outputs["choices"][0]["message"]
    assert message["content"][0] == THINKING  # the response as Mistral sent it (a stream: as it would have)


def test_parse_is_one_chat_span(server: FakeOpenAILikeServer) -> None:
    class City(pydantic.BaseModel):
        city: str
        country: str

    def run() -> Any:
        parsed = client(server).chat.parse(City, model="mistral-small", messages=MESSAGES)
        return parsed.choices[0].message.parsed

    seen, span = both(run)
    assert seen[1] == City(city="Paris", country="France")
    assert span.name == "chat mistral-small" and span.attributes[attr.GEN_AI_OUTPUT_TYPE] == "json"


@pytest.mark.parametrize("model", ["mistral-embed", "error-500"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_embeddings(server: FakeOpenAILikeServer, asynchronous: bool, model: str) -> None:
    async def main() -> Any:
        async with async_client(server) as c:
            return dump(await c.embeddings.create_async(model=model, inputs=["a", "b"]))

    def run() -> Any:
        if asynchronous:
            return asyncio.run(main())
        return dump(client(server).embeddings.create(model=model, inputs=["a", "b"]))

    seen, span = both(run)
    assert span.name == f"embeddings {model}" and span.kind == "EMBEDDING"
    if model.startswith("error"):
        assert span.status == "ERROR" and span.attributes[attr.HTTP_RESPONSE_STATUS_CODE] == 500
        return
    assert seen[1]["data"][1]["embedding"] == [0.25, -0.5, 1.0]
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 4
    assert attr.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes
    assert span.inputs == {"model": model, "inputs": ["a", "b"]}
    assert span.outputs["data"] == [{"index": 0, "dimensions": 3}, {"index": 1, "dimensions": 3}]


def test_stream_error_midway(server: FakeOpenAILikeServer) -> None:
    seen, span = both(chat(server, True, model="stream-error"))
    assert seen[0] == "error" and span.status == "ERROR"
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "cmpl-1"  # what arrived before the error


def _first_then(server: FakeOpenAILikeServer, how: str) -> Callable[[], Any]:
    def run() -> Any:
        stream = client(server).chat.stream(model="mistral-small", messages=MESSAGES)
        if how == "close":
            first = next(stream)
            stream.close()
        elif how == "with":
            with stream:
                for first in stream:  # noqa: B007 - the first event is read after the loop
                    break
        elif how == "response":  # what closing the SDK's HTTP response directly does
            first = next(stream)
            stream.response.close()
        else:
            for first in stream:  # noqa: B007 - the first event is read after the loop
                break
            del stream
            gc.collect()
        return dump(first)

    return run


@pytest.mark.parametrize("how", ["close", "with", "response", "garbage"])
def test_early_close_ends_span_once(server: FakeOpenAILikeServer, how: str) -> None:
    _, span = both(_first_then(server, how))
    assert span.status == "OK" and span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "cmpl-1"


def test_async_early_close(server: FakeOpenAILikeServer) -> None:
    async def main() -> Any:
        async with async_client(server) as c:
            stream = await c.chat.stream_async(model="mistral-small", messages=MESSAGES)
            first = await stream.__anext__()
            await stream.close()
            return dump(first)

    _, span = both(lambda: asyncio.run(main()))
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True


def test_sdk_own_spans_stand_aside(server: FakeOpenAILikeServer, db_path: Any, monkeypatch: Any) -> None:
    """Mistral's SDK traces itself when asked to, onto the global provider: with ours global too, a call would be
    two spans. Its tracing on its own dedicated provider (Mistral's backend) is not ours to touch."""
    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "global")
    spanlite.configure(db=db_path, use_global_provider=True)

    def run() -> Any:
        with Mistral(api_key="test", server_url=server.url) as c:  # the SDK resolves its telemetry per client
            return dump(c.chat.complete(model="mistral-small", messages=MESSAGES))

    spanlite.autolog("mistral", disable=True)
    _, theirs = fake.observe(run, MistralError)
    spanlite.autolog("mistral")
    _, ours = fake.observe(run, MistralError)
    assert len(theirs) == 1 and "http.url" in theirs[0].attributes  # the test can see their span
    assert len(ours) == 1 and "http.url" not in ours[0].attributes


def test_capture_content_false(server: FakeOpenAILikeServer, db_path: Any) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(chat(server, True, model="mistral-small"))
    assert attr.GEN_AI_INPUT_MESSAGES not in span.attributes and attr.GEN_AI_OUTPUT_MESSAGES not in span.attributes
    assert span.outputs is None and set(span.inputs) == {"model"}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    _, span = both(lambda: dump(client(server).embeddings.create(model="mistral-embed", inputs=["secret"])))
    assert span.outputs is None and set(span.inputs) == {"model"}


def test_per_call_headers_are_never_stored(server: FakeOpenAILikeServer) -> None:
    """``http_headers`` is where a per-call key goes; it and the other transport options are not the request."""
    secret = "Bearer sk-live-0123456789abcdef0123456789abcdef"
    transport = {"http_headers": {"Authorization": secret}, "timeout_ms": 5000, "server_url": server.url}
    _, span = both(chat(server, model="mistral-small", **transport))
    embeddings = client(server).embeddings
    _, embedding = both(lambda: dump(embeddings.create(model="mistral-embed", inputs=["a"], **transport)))
    assert set(span.inputs) == {"model", "messages"} and set(embedding.inputs) == {"model", "inputs"}
    assert "sk-live" not in repr(span) + repr(embedding)


def test_aliases_and_disable_restore_everything() -> None:
    from mistralai.client._hooks import tracing
    from mistralai.client.chat import Chat
    from mistralai.client.embeddings import Embeddings

    names = ("complete", "complete_async", "stream", "stream_async")

    def current() -> list[Any]:
        methods = [Chat.__dict__[n] for n in names] + [Embeddings.__dict__[n] for n in ("create", "create_async")]
        return [*methods, tracing.get_or_create_otel_tracer]

    originals = current()

    for alias in ("mistral", "mistral_ai", "mistralai"):
        spanlite.autolog(alias)
        assert all(now is not before for now, before in zip(current(), originals, strict=True))
        spanlite.autolog(alias, disable=True)
        assert current() == originals


# a failure inside our recording never changes what the caller gets ----------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("spanlite bug")


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLITE_STRICT")


def test_failing_recorder_returns_sdk_object(server: FakeOpenAILikeServer, lenient: None, monkeypatch: Any) -> None:
    from mistralai.client.models import ChatCompletionResponse

    from spanlite.autolog import _record
    from spanlite.autolog import mistral as autolog_mistral

    monkeypatch.setattr(_record, "usage_attributes", _boom)
    monkeypatch.setattr(autolog_mistral._MistralStream, "_add_choice", _boom)
    spanlite.autolog("mistral")
    response = client(server).chat.complete(model="mistral-small", messages=MESSAGES)
    assert type(response) is ChatCompletionResponse and response.choices[0].message.content == TEXT
    events = list(client(server).chat.stream(model="mistral-small", messages=MESSAGES))
    assert "".join(e.data.choices[0].delta.content or "" for e in events) == TEXT
