"""autolog for the Groq SDK: the real client over real HTTP against a fake server on 127.0.0.1.

Every scenario runs twice, without and with autolog: what the caller sees must be identical, and with autolog
exactly one model span must have ended.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import groq
import pydantic
import pytest

import fake_llm_server as fake
import spanlite
from fake_llm_server import TEXT
from fake_openai_like import GROQ_PATH, REASONING, FakeOpenAILikeServer
from spanlite.store import SpanRecord
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
CALL = {"id": "call_0", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
_clients: dict[str, groq.Groq] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAILikeServer]:
    srv = FakeOpenAILikeServer().start()
    yield srv
    if srv.url in _clients:
        _clients.pop(srv.url).close()
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("groq", disable=True)


def client(server: FakeOpenAILikeServer) -> groq.Groq:
    """The module's one client; patches act on the classes, so sharing it is fine."""
    if server.url not in _clients:
        _clients[server.url] = groq.Groq(base_url=server.url, api_key="test", max_retries=0)
    return _clients[server.url]


def async_client(server: FakeOpenAILikeServer) -> groq.AsyncGroq:
    return groq.AsyncGroq(base_url=server.url, api_key="test", max_retries=0)


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    return fake.both("groq", scenario, groq.APIError)


def dump(value: Any) -> Any:
    return value.model_dump(exclude_unset=True) if isinstance(value, pydantic.BaseModel) else value


def chat(server: FakeOpenAILikeServer, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        result = client(server).chat.completions.create(**{"messages": MESSAGES, **kwargs})
        return [dump(c) for c in result] if kwargs.get("stream") else dump(result)

    return run


def chat_async(server: FakeOpenAILikeServer, **kwargs: Any) -> Callable[[], Any]:
    async def main() -> Any:
        async with async_client(server) as c:
            result = await c.chat.completions.create(messages=MESSAGES, **kwargs)
            return [dump(c) async for c in result] if kwargs.get("stream") else dump(result)

    return lambda: asyncio.run(main())


@pytest.mark.parametrize("model", ["llama-3.3", "error-429", "error-500"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("make", [chat, chat_async], ids=["sync", "async"])
def test_chat_matrix(server: FakeOpenAILikeServer, make: Any, stream: bool, model: str) -> None:
    seen, span = both(make(server, model=model, stream=stream, temperature=0.5))
    a = span.attributes
    assert span.name == f"chat {model}" and span.kind == "CHAT_MODEL"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "groq" and a[attr.GEN_AI_REQUEST_TEMPERATURE] == 0.5
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
    assert a[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 2
    if stream:  # the usage came in x_groq on the last chunk
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN]


def test_whole_span_with_tools(server: FakeOpenAILikeServer) -> None:
    _, span = both(chat(server, model="llama-3.3", tools=TOOLS, max_completion_tokens=50, stop="END"))
    assert span.attributes == {
        attr.GEN_AI_OPERATION_NAME: "chat",
        attr.GEN_AI_PROVIDER_NAME: "groq",
        attr.GEN_AI_REQUEST_MODEL: "llama-3.3",
        attr.GEN_AI_REQUEST_MAX_TOKENS: 50,
        attr.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
        attr.GEN_AI_TOOL_DEFINITIONS: [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        attr.GEN_AI_INPUT_MESSAGES: [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        ],
        attr.GEN_AI_RESPONSE_ID: "cmpl-1",
        attr.GEN_AI_RESPONSE_MODEL: "llama-3.3-2024",
        attr.GEN_AI_RESPONSE_FINISH_REASONS: ["tool_calls"],
        attr.GEN_AI_USAGE_INPUT_TOKENS: 12,
        attr.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2,
        attr.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": ""},
                    {"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}},
                ],
                "finish_reason": "tool_calls",
            }
        ],
    }
    assert span.inputs == {
        "model": "llama-3.3",
        "messages": MESSAGES,
        "tools": TOOLS,
        "max_completion_tokens": 50,
        "stop": "END",
    }


@pytest.mark.parametrize("make", [chat, chat_async], ids=["sync", "async"])
def test_streamed_tool_calls_are_reassembled(server: FakeOpenAILikeServer, make: Any) -> None:
    _, streamed = both(make(server, model="llama-3.3", tools=TOOLS, stream=True))
    _, whole = both(make(server, model="llama-3.3", tools=TOOLS))
    for key in (attr.GEN_AI_RESPONSE_FINISH_REASONS, attr.GEN_AI_USAGE_INPUT_TOKENS, attr.GEN_AI_USAGE_OUTPUT_TOKENS):
        assert streamed.attributes[key] == whole.attributes[key]
    parts = streamed.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"]
    assert parts[-1] == {"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}}


@pytest.mark.parametrize("stream", [False, True])
def test_parsed_reasoning_is_a_reasoning_part(server: FakeOpenAILikeServer, stream: bool) -> None:
    _, span = both(chat(server, model="gpt-oss", stream=stream, reasoning_format="parsed"))
    assert span.attributes[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": REASONING}, {"type": "text", "content": TEXT}],
            "finish_reason": "stop",
        }
    ]
    assert span.outputs["choices"][0]["message"]["reasoning"] == REASONING


def test_tool_results_in(server: FakeOpenAILikeServer) -> None:
    messages = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_0", "content": "Sunny"},
    ]
    _, span = both(chat(server, model="llama-3.3", tools=TOOLS, messages=messages))
    assert span.attributes[attr.GEN_AI_INPUT_MESSAGES][2:] == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_0", "response": "Sunny"}]},
    ]
    assert span.attributes[attr.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]


def test_request_goes_out_unchanged(server: FakeOpenAILikeServer) -> None:
    """Groq sends a stream's usage unasked, and its SDK has no ``stream_options``: nothing is added."""
    both(chat(server, model="llama-3.3", stream=True))
    bodies = [body for path, body in server.requests[-2:] if path == GROQ_PATH]
    assert len(bodies) == 2 and bodies[0] == bodies[1] and "stream_options" not in bodies[1]


def test_stream_error_midway(server: FakeOpenAILikeServer) -> None:
    seen, span = both(chat(server, model="stream-error", stream=True))
    assert seen[0] == "error" and span.status == "ERROR"
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "cmpl-1"  # what arrived before the error


def _first_then(server: FakeOpenAILikeServer, how: str) -> Callable[[], Any]:
    def run() -> Any:
        stream = client(server).chat.completions.create(model="llama-3.3", messages=MESSAGES, stream=True)
        if how == "close":
            first = next(stream)
            stream.close()
        elif how == "with":
            with stream:
                for first in stream:  # noqa: B007 - the first chunk is read after the loop
                    break
        else:
            for first in stream:  # noqa: B007 - the first chunk is read after the loop
                break
            del stream
            gc.collect()
        return dump(first)

    return run


@pytest.mark.parametrize("how", ["close", "with", "garbage"])
def test_early_close_ends_span_once(server: FakeOpenAILikeServer, how: str) -> None:
    _, span = both(_first_then(server, how))
    assert span.status == "OK" and span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "cmpl-1"


def test_async_early_close(server: FakeOpenAILikeServer) -> None:
    async def main() -> Any:
        async with async_client(server) as c:
            stream = await c.chat.completions.create(model="llama-3.3", messages=MESSAGES, stream=True)
            first = await stream.__anext__()
            await stream.close()
            return dump(first)

    _, span = both(lambda: asyncio.run(main()))
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True


def test_capture_content_false(server: FakeOpenAILikeServer, db_path: Any) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(chat(server, model="llama-3.3", stream=True))
    assert attr.GEN_AI_INPUT_MESSAGES not in span.attributes and attr.GEN_AI_OUTPUT_MESSAGES not in span.attributes
    assert span.outputs is None and set(span.inputs) == {"model", "stream"}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_raw_response_keeps_working(server: FakeOpenAILikeServer) -> None:
    def run() -> Any:  # a fresh client: with_raw_response binds create() when first used
        with groq.Groq(base_url=server.url, api_key="test", max_retries=0) as c:
            raw = c.chat.completions.with_raw_response.create(model="llama-3.3", messages=MESSAGES)
            return raw.status_code, dump(raw.parse())

    _, span = both(run)
    assert span.attributes[attr.HTTP_RESPONSE_STATUS_CODE] == 200


def test_disable_restores_everything() -> None:
    from groq.resources.chat.completions import AsyncCompletions, Completions

    originals = Completions.__dict__["create"], AsyncCompletions.__dict__["create"]
    spanlite.autolog("groq")
    spanlite.autolog("groq")
    assert Completions.__dict__["create"] is not originals[0]
    spanlite.autolog("groq", disable=True)
    assert (Completions.__dict__["create"], AsyncCompletions.__dict__["create"]) == originals


def test_langchain_on_top_gives_one_model_span(server: FakeOpenAILikeServer) -> None:
    """ChatGroq calls the groq SDK: with both autologged, the call is one model span (LangChain's), not two."""
    from langchain_groq import ChatGroq

    model = ChatGroq(model="llama-3.3", api_key="test", base_url=server.url, max_retries=0)  # type: ignore[arg-type]
    spanlite.autolog("groq", "langchain")
    try:
        _, spans = fake.observe(lambda: model.invoke("Hi").content, groq.APIError)
    finally:
        spanlite.autolog("langchain", disable=True)
    models = [s for s in spans if s.kind == "CHAT_MODEL"]
    assert len(models) == 1 and models[0].attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


# a failure inside our recording never changes what the caller gets ----------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("spanlite bug")


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLITE_STRICT")


def test_failing_recorder_returns_sdk_object(server: FakeOpenAILikeServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _record

    monkeypatch.setattr(_record, "usage_attributes", _boom)
    spanlite.autolog("groq")
    completion = client(server).chat.completions.create(model="llama-3.3", messages=MESSAGES)
    assert type(completion) is groq.types.chat.ChatCompletion and completion.choices[0].message.content == TEXT
    chunks = list(client(server).chat.completions.create(model="llama-3.3", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT
