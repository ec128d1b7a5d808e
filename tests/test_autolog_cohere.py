"""autolog for Cohere's v2 API: the real ``cohere.ClientV2`` over real HTTP (v2 SSE events) against a fake server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import cohere
import pydantic
import pytest
from cohere.core.api_error import ApiError
from cohere.v2.raw_client import AsyncRawV2Client, RawV2Client

import fake_llm_server as fake
import spanlite
from fake_cohere import TEXT, THINKING, TOOL_PLAN, FakeCohere
from spanlite.store import SpanRecord
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "weather", "description": "Weather", "parameters": {}}}]
DOCUMENTS = ["Paris is in France", "Berlin is in Germany", "The weather in Paris is mild"]
TEXT_OUT = [{"type": "text", "content": TEXT}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeCohere]:
    srv = FakeCohere().start()
    yield srv
    srv.stop()


def new_client(server: FakeCohere) -> cohere.ClientV2:
    return cohere.ClientV2(api_key="test", base_url=server.url)


@pytest.fixture(scope="module")
def client(server: FakeCohere) -> Iterator[cohere.ClientV2]:
    """The module's one client, made before any autolog(): patches act on the raw client every call goes through."""
    with new_client(server) as c:
        yield c


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("cohere", disable=True)


def both(scenario: Callable[[], Any], errors: type[BaseException] = ApiError) -> tuple[Any, SpanRecord]:
    return fake.both("cohere", scenario, errors)


def dump(value: Any) -> Any:
    return value.model_dump() if isinstance(value, pydantic.BaseModel) else value


def chat(client: cohere.ClientV2, stream: bool, **kwargs: Any) -> Callable[[], Any]:
    kwargs.setdefault("messages", MESSAGES)

    def run() -> Any:
        return [dump(e) for e in client.chat_stream(**kwargs)] if stream else dump(client.chat(**kwargs))

    return run


def chat_async(server: FakeCohere, stream: bool, **kwargs: Any) -> Callable[[], Any]:
    kwargs.setdefault("messages", MESSAGES)

    async def main() -> Any:
        async with cohere.AsyncClientV2(api_key="test", base_url=server.url) as c:
            if stream:
                return [dump(e) async for e in c.chat_stream(**kwargs)]
            return dump(await c.chat(**kwargs))

    return lambda: asyncio.run(main())


def run_async(server: FakeCohere, method: str, **kwargs: Any) -> Callable[[], Any]:
    async def main() -> Any:
        async with cohere.AsyncClientV2(api_key="test", base_url=server.url) as c:
            return dump(await getattr(c, method)(**kwargs))

    return lambda: asyncio.run(main())


@pytest.mark.parametrize("model", ["command-a", "error-400", "error-404"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("how", ["sync", "async"])
def test_chat_matrix(client: cohere.ClientV2, server: FakeCohere, how: str, stream: bool, model: str) -> None:
    kwargs = {"model": model, "max_tokens": 100, "temperature": 0.3, "p": 0.9, "stop_sequences": ["END"]}
    seen, span = both(chat(client, stream, **kwargs) if how == "sync" else chat_async(server, stream, **kwargs))
    a = span.attributes
    assert span.name == f"chat {model}" and span.kind == "CHAT_MODEL"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "cohere" and a[attr.GEN_AI_OPERATION_NAME] == "chat"
    if model.startswith("error"):
        status = int(model.split("-")[1])
        assert seen[0] == "error" and issubclass(seen[1], ApiError) and seen[2] == status
        assert span.status == "ERROR" and a[attr.HTTP_RESPONSE_STATUS_CODE] == status
        assert a[attr.ERROR_TYPE] in ("BadRequestError", "NotFoundError")
        assert [e["name"] for e in span.events][-1] == "exception"
        return
    assert span.status == "OK"
    assert a[attr.GEN_AI_REQUEST_MAX_TOKENS] == 100 and a[attr.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert a[attr.GEN_AI_REQUEST_TOP_P] == 0.9 and a[attr.GEN_AI_REQUEST_STOP_SEQUENCES] == ["END"]
    assert a[attr.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [{"role": "assistant", "parts": TEXT_OUT, "finish_reason": "COMPLETE"}]
    assert a[attr.GEN_AI_RESPONSE_ID] == "chat_1" and a[attr.GEN_AI_RESPONSE_FINISH_REASONS] == ["COMPLETE"]
    # the billed counts, not usage.tokens (80 / 9, with Cohere's own prompt template)
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12 and a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert a[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 2
    assert span.outputs["message"]["content"][0]["text"] == TEXT
    if stream:
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN] and a[attr.STREAM] is True


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip_and_thinking(client: cohere.ClientV2, stream: bool) -> None:
    thinking = {"type": "enabled"}
    _, first = both(chat(client, stream, model="command-a", tools=TOOLS, thinking=thinking))
    call_part = {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}
    reasoning = [{"type": "reasoning", "content": TOOL_PLAN}, {"type": "reasoning", "content": THINKING}]
    assert first.attributes[attr.GEN_AI_TOOL_DEFINITIONS] == [{"type": "function", **TOOLS[0]["function"]}]
    assert first.attributes[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [*reasoning, call_part], "finish_reason": "TOOL_CALL"}
    ]
    calls = [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]
    history = [
        *MESSAGES,
        {"role": "assistant", "tool_plan": TOOL_PLAN, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
    ]
    _, second = both(chat(client, stream, model="command-a", tools=TOOLS, messages=history))
    assert second.attributes[attr.GEN_AI_INPUT_MESSAGES][1:] == [
        {"role": "assistant", "parts": [reasoning[0], call_part]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": history[2]["content"]}]},
    ]
    assert second.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == TEXT_OUT


def test_streamed_and_whole_record_the_same(client: cohere.ClientV2) -> None:
    _, streamed = both(chat(client, True, model="command-a", tools=TOOLS))
    _, whole = both(chat(client, False, model="command-a", tools=TOOLS))
    for key in (attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_RESPONSE_ID, attr.GEN_AI_USAGE_OUTPUT_TOKENS):
        assert streamed.attributes[key] == whole.attributes[key]


def test_stream_error_midway(client: cohere.ClientV2) -> None:
    seen, span = both(chat(client, True, model="stream-error"), Exception)
    assert seen[0] == "error" and span.status == "ERROR"
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is False
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "chat_1"  # what arrived before the error


def _first_then(client: cohere.ClientV2, how: str) -> Callable[[], Any]:
    def run() -> Any:
        stream = client.chat_stream(model="command-a", messages=MESSAGES)
        first = next(stream)
        if how == "close":
            stream.close()
        else:
            del stream
            gc.collect()
        return dump(first)

    return run


@pytest.mark.parametrize("how", ["close", "garbage"])
def test_early_close_ends_span_once(client: cohere.ClientV2, how: str) -> None:
    _, span = both(_first_then(client, how))
    assert span.status == "OK" and span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "chat_1"


def test_async_break_ends_span_on_leaving(server: FakeCohere) -> None:
    """``async for`` does not close what it reads from: the span ends when the SDK leaves its ``async with``."""

    async def main() -> Any:
        async with cohere.AsyncClientV2(api_key="test", base_url=server.url) as c:
            stream = c.chat_stream(model="command-a", messages=MESSAGES)
            async for first in stream:  # noqa: B007 - the first event is read after the loop
                break
            await stream.aclose()
            return dump(first)

    _, span = both(lambda: asyncio.run(main()))
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True


@pytest.mark.parametrize("how", ["sync", "async"])
def test_embed(client: cohere.ClientV2, server: FakeCohere, how: str) -> None:
    kwargs = {"model": "embed-v4", "texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float"]}
    _, span = both((lambda: dump(client.embed(**kwargs))) if how == "sync" else run_async(server, "embed", **kwargs))
    assert span.name == "embeddings embed-v4" and span.kind == "EMBEDDING"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 6
    assert span.attributes[attr.GEN_AI_REQUEST_ENCODING_FORMATS] == ["float"]
    assert span.outputs["embeddings"] == {"float": [{"index": 0, "dimensions": 3}, {"index": 1, "dimensions": 3}]}


@pytest.mark.parametrize("how", ["sync", "async"])
def test_rerank_documents_in_ranked_out(client: cohere.ClientV2, server: FakeCohere, how: str) -> None:
    kwargs = {"model": "rerank-v3.5", "query": "weather in Paris", "documents": DOCUMENTS, "top_n": 2}
    seen, span = both(
        (lambda: dump(client.rerank(**kwargs))) if how == "sync" else run_async(server, "rerank", **kwargs)
    )
    assert span.name == "rerank rerank-v3.5" and span.kind == "RERANKER"
    assert span.attributes[attr.GEN_AI_OPERATION_NAME] == "rerank"
    assert span.inputs == {
        "model": "rerank-v3.5",
        "query": "weather in Paris",
        "documents": [{"id": i, "content": d} for i, d in enumerate(DOCUMENTS)],
        "top_n": 2,
    }
    ranked = seen[1]["results"]
    assert span.outputs == [
        {"id": r["index"], "score": r["relevance_score"], "content": DOCUMENTS[r["index"]]} for r in ranked
    ]
    assert [d["id"] for d in span.outputs] == [2, 0]


def test_capture_content_false(client: cohere.ClientV2, db_path: Any) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(chat(client, True, model="command-a", messages=[{"role": "system", "content": "secret"}]))
    for key in (attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES):
        assert key not in span.attributes
    assert span.outputs is None and span.inputs == {"model": "command-a"}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    _, reranked = both(lambda: dump(client.rerank(model="rerank-v3.5", query="secret", documents=["secret"])))
    assert reranked.inputs == {"model": "rerank-v3.5"} and reranked.outputs == [{"id": 0, "score": 1.0}]


def test_disable_restores_everything(server: FakeCohere) -> None:
    """Also for clients: one made before autolog() is traced, one made while it was on is not after it is off."""
    names = ("chat", "chat_stream", "embed", "rerank")
    originals = [RawV2Client.__dict__[n] for n in names] + [AsyncRawV2Client.__dict__[n] for n in names]
    with new_client(server) as before:
        spanlite.autolog("cohere")
        spanlite.autolog("cohere")
        with new_client(server) as during:
            _, [span] = fake.observe(lambda: dump(before.chat(model="command-a", messages=MESSAGES)), ApiError)
            assert span.name == "chat command-a"
            spanlite.autolog("cohere", disable=True)
            now = [RawV2Client.__dict__[n] for n in names] + [AsyncRawV2Client.__dict__[n] for n in names]
            assert all(a is b for a, b in zip(now, originals, strict=True))
            _, spans = fake.observe(lambda: dump(during.chat(model="command-a", messages=MESSAGES)), ApiError)
            assert spans == []


def _ended(trace_id: str) -> list[SpanRecord]:
    spanlite.flush()
    trace = spanlite.get_trace(trace_id)
    return [] if trace is None else [s for s in trace.spans if s.name != "test"]


def test_raw_stream_span_ends_when_its_block_is_left(client: cohere.ClientV2, server: FakeCohere) -> None:
    """``with_raw_response.chat_stream`` read in part: the span ends on leaving the block, not when the response
    the caller still holds is dropped."""

    async def read_async() -> Any:
        async with cohere.AsyncClientV2(api_key="test", base_url=server.url) as c:
            async with c.with_raw_response.chat_stream(model="command-a", messages=MESSAGES) as response:
                async for first in response.data:  # noqa: B007 - the first event is read after the loop
                    break
            return [dump(first), _ended(root.trace_id), response]

    spanlite.autolog("cohere")
    with spanlite.start_span("test") as root:
        with client.with_raw_response.chat_stream(model="command-a", messages=MESSAGES) as response:
            first = next(iter(response.data))
        [sync_span] = _ended(root.trace_id)
        first_async, [sync_again, async_span], _ = asyncio.run(read_async())
    assert first.type == "message-start" and first_async["type"] == "message-start"
    assert sync_span.attributes[attr.STREAM_CLOSED_EARLY] is True and sync_again.span_id == sync_span.span_id
    assert async_span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert response.status_code == 200
