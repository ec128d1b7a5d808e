"""autolog for the Anthropic SDK: the real client over real HTTP against a fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pydantic
import pytest

import fake_llm_server as fake
import spanlite
from fake_llm_server import TEXT, FakeLLMServer
from spanlite.store import SpanRecord
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "user", "content": "Hi"}]
TOOLS = [{"name": "weather", "description": "Weather", "input_schema": {"type": "object"}}]
THINKING = {"type": "enabled", "budget_tokens": 1024}
_clients: dict[str, anthropic.Anthropic] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    if srv.url in _clients:
        _clients.pop(srv.url).close()
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("anthropic", disable=True)


def fresh_client(server: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)


def client(server: FakeLLMServer) -> contextlib.nullcontext[anthropic.Anthropic]:
    """The module's one client; patches act on the classes, so sharing it is fine."""
    if server.url not in _clients:
        _clients[server.url] = fresh_client(server)
    return contextlib.nullcontext(_clients[server.url])


def async_client(server: FakeLLMServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.url, api_key="test", max_retries=0)


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    return fake.both("anthropic", scenario, anthropic.APIError)


def dump(value: Any) -> Any:
    return value.model_dump(exclude_unset=True) if isinstance(value, pydantic.BaseModel) else value


def create(server: FakeLLMServer, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        with client(server) as c:
            result = c.messages.create(max_tokens=100, messages=MESSAGES, **kwargs)
            if kwargs.get("stream"):
                with result as stream:
                    return [dump(event) for event in stream]
            return dump(result)

    return run


def create_async(server: FakeLLMServer, **kwargs: Any) -> Callable[[], Any]:
    async def main() -> Any:
        async with async_client(server) as c:
            result = await c.messages.create(max_tokens=100, messages=MESSAGES, **kwargs)
            if kwargs.get("stream"):
                async with result as stream:
                    return [dump(event) async for event in stream]
            return dump(result)

    return lambda: asyncio.run(main())


@pytest.mark.parametrize("model", ["claude-sonnet", "error-429", "error-500"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("make", [create, create_async], ids=["sync", "async"])
def test_messages_matrix(server: FakeLLMServer, make: Any, stream: bool, model: str) -> None:
    seen, span = both(make(server, model=model, stream=stream, system="Be brief."))
    a = span.attributes
    assert span.name == f"chat {model}" and span.kind == "CHAT_MODEL"
    if model.startswith("error"):
        status = int(model.split("-")[1])
        assert seen[2] == status and span.status == "ERROR"
        assert a[attr.HTTP_RESPONSE_STATUS_CODE] == status
        return
    assert span.status == "OK"
    assert a[attr.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "Be brief."}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "end_turn"}
    ]
    assert a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    if stream:
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN]


def test_whole_span_with_tools_thinking_and_cache_tokens(server: FakeLLMServer) -> None:
    _, span = both(create(server, model="claude-sonnet", tools=TOOLS, thinking=THINKING, stop_sequences=["END"]))
    assert span.attributes == {
        attr.GEN_AI_OPERATION_NAME: "chat",
        attr.GEN_AI_PROVIDER_NAME: "anthropic",
        attr.GEN_AI_REQUEST_MODEL: "claude-sonnet",
        attr.GEN_AI_REQUEST_MAX_TOKENS: 100,
        attr.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
        attr.GEN_AI_TOOL_DEFINITIONS: TOOLS,
        attr.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
        attr.GEN_AI_RESPONSE_ID: "msg_1",
        attr.GEN_AI_RESPONSE_MODEL: "claude-sonnet-2024",
        attr.GEN_AI_RESPONSE_FINISH_REASONS: ["tool_use"],
        attr.GEN_AI_USAGE_INPUT_TOKENS: 19,  # 12 + 3 read from cache + 4 written to it
        attr.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 3,
        attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 4,
        attr.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": "Let me think."},
                    {"type": "text", "content": "Checking."},
                    {"type": "tool_call", "id": "toolu_1", "name": "weather", "arguments": {"city": "Paris"}},
                ],
                "finish_reason": "tool_use",
            }
        ],
    }
    assert span.inputs == {
        "max_tokens": 100,
        "messages": MESSAGES,
        "model": "claude-sonnet",
        "tools": TOOLS,
        "thinking": THINKING,
        "stop_sequences": ["END"],
    }


def test_streamed_tools_and_thinking_are_reassembled(server: FakeLLMServer) -> None:
    _, streamed = both(create(server, model="claude-sonnet", tools=TOOLS, thinking=THINKING, stream=True))
    _, whole = both(create(server, model="claude-sonnet", tools=TOOLS, thinking=THINKING))
    for key in (attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_USAGE_INPUT_TOKENS, attr.GEN_AI_USAGE_OUTPUT_TOKENS):
        assert streamed.attributes[key] == whole.attributes[key]
    assert streamed.outputs["content"][2]["input"] == {"city": "Paris"}


def test_stream_error_midway(server: FakeLLMServer) -> None:
    seen, span = both(create(server, model="stream-error", stream=True))
    assert seen[0] == "error" and span.status == "ERROR"
    assert span.outputs["content"][0]["text"] == "Hello"  # what arrived before the error


def test_stream_helper(server: FakeLLMServer) -> None:
    def run() -> Any:
        with client(server) as c:
            with c.messages.stream(model="claude-sonnet", max_tokens=100, messages=MESSAGES, tools=TOOLS) as stream:
                texts = list(stream.text_stream)
                return texts, dump(stream.get_final_message())

    seen, span = both(run)
    assert seen[1][0] == ["Checking."]
    assert span.attributes[attr.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_use"]
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is False


def test_async_stream_helper(server: FakeLLMServer) -> None:
    async def main() -> Any:
        async with async_client(server) as c:
            async with c.messages.stream(model="claude-sonnet", max_tokens=100, messages=MESSAGES) as stream:
                return await stream.get_final_text()

    seen, span = both(lambda: asyncio.run(main()))
    assert seen[1] == TEXT and span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def _first_then(server: FakeLLMServer, how: str) -> Callable[[], Any]:
    def run() -> Any:
        with client(server) as c:
            if how == "helper":
                with c.messages.stream(model="claude-sonnet", max_tokens=100, messages=MESSAGES) as helper:
                    return next(iter(helper)).type
            stream = c.messages.create(model="claude-sonnet", max_tokens=100, messages=MESSAGES, stream=True)
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


@pytest.mark.parametrize("how", ["close", "with", "helper", "garbage"])
def test_early_close_ends_span_once(server: FakeLLMServer, how: str) -> None:
    _, span = both(_first_then(server, how))
    assert span.status == "OK" and span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "msg_1"


def test_async_early_close(server: FakeLLMServer) -> None:
    async def main() -> Any:
        async with async_client(server) as c:
            stream = await c.messages.create(model="claude-sonnet", max_tokens=100, messages=MESSAGES, stream=True)
            first = await stream.__anext__()
            await stream.close()
            return dump(first)

    _, span = both(lambda: asyncio.run(main()))
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True


def test_sdk_own_spans_are_turned_off(server: FakeLLMServer, db_path: Any) -> None:
    """With our provider global, the SDK's own tracing would add a second span for the same call."""
    spanlite.configure(db=db_path, use_global_provider=True)

    def run() -> Any:
        with fresh_client(server) as c:  # the SDK picks its tracer once per client
            return dump(c.messages.create(model="claude-sonnet", max_tokens=100, messages=MESSAGES))

    spanlite.autolog("anthropic", disable=True)
    _, theirs = fake.observe(run, anthropic.APIError)
    spanlite.autolog("anthropic")
    _, ours = fake.observe(run, anthropic.APIError)
    assert len(theirs) == 1 and theirs[0].name != "chat claude-sonnet"  # the test can see their span
    assert [s.name for s in ours] == ["chat claude-sonnet"]


def test_capture_content_false(server: FakeLLMServer, db_path: Any) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(create(server, model="claude-sonnet", system="secret", stream=True))
    for key in (attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert key not in span.attributes
    assert span.outputs is None and set(span.inputs) == {"max_tokens", "model", "stream"}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_raw_response_keeps_working(server: FakeLLMServer) -> None:
    def run() -> Any:
        with fresh_client(server) as c:
            raw = c.messages.with_raw_response.create(model="claude-sonnet", max_tokens=100, messages=MESSAGES)
            return raw.status_code, dump(raw.parse())

    _, span = both(run)
    assert span.attributes[attr.HTTP_RESPONSE_STATUS_CODE] == 200


def test_disable_restores_everything() -> None:
    from anthropic._base_client import BaseClient
    from anthropic.resources.messages.messages import Messages

    create_, stream_, tracer = Messages.__dict__["create"], Messages.__dict__["stream"], BaseClient.__dict__["_tracer"]
    spanlite.autolog("anthropic")
    spanlite.autolog("anthropic")
    assert Messages.__dict__["create"] is not create_ and BaseClient.__dict__["_tracer"] is not tracer
    spanlite.autolog("anthropic", disable=True)
    assert Messages.__dict__["create"] is create_ and Messages.__dict__["stream"] is stream_
    assert BaseClient.__dict__["_tracer"] is tracer


# a failure inside our recording never changes what the caller gets ----------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("spanlite bug")


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLITE_STRICT")


def test_failing_recorder_returns_sdk_message(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _record

    monkeypatch.setattr(_record, "usage_attributes", _boom)
    spanlite.autolog("anthropic")
    with client(server) as c:
        message = c.messages.create(model="claude-sonnet", max_tokens=100, messages=MESSAGES)
    assert type(message) is anthropic.types.Message and message.content[0].text == TEXT


def test_failing_start_passes_sdk_exception(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _patch

    monkeypatch.setattr(_patch, "_start", _boom)
    spanlite.autolog("anthropic")
    with client(server) as c, pytest.raises(anthropic.RateLimitError) as caught:
        c.messages.create(model="error-429", max_tokens=100, messages=MESSAGES)
    assert caught.value.status_code == 429


def test_failing_stream_accumulator_keeps_events(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import anthropic as autolog_anthropic

    monkeypatch.setattr(autolog_anthropic._MessageStream, "add", _boom)
    seen, span = both(create(server, model="claude-sonnet", stream=True))
    assert [e["type"] for e in seen[1]][-1] == "message_stop"
    assert span.status == "OK"


def test_failing_helper_hook_leaves_stream_helper_working(
    server: FakeLLMServer, lenient: None, monkeypatch: Any
) -> None:
    from spanlite.autolog import anthropic as autolog_anthropic

    monkeypatch.setattr(autolog_anthropic, "_trace_manager", _boom)
    spanlite.autolog("anthropic")
    with client(server) as c:
        with c.messages.stream(model="claude-sonnet", max_tokens=100, messages=MESSAGES) as stream:
            assert stream.get_final_text() == TEXT
