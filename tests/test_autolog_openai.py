"""autolog for the OpenAI SDK: the real client over real HTTP against a fake server on 127.0.0.1.

Every scenario runs twice, without and with autolog, and what the caller sees must be identical; with autolog
exactly one model span must have ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import openai
import pydantic
import pytest

import fake_llm_server as fake
import spanlite
from fake_llm_server import JSON_ANSWER, TEXT, FakeLLMServer
from spanlite.store import SpanRecord
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
TOOLS = [
    {"type": "function", "function": {"name": "weather", "description": "Weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "time", "parameters": {"type": "object"}}},
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    if srv.url in _clients:
        _clients.pop(srv.url).close()
    srv.stop()


_clients: dict[str, openai.OpenAI] = {}


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("openai", disable=True)


def client(server: FakeLLMServer) -> contextlib.nullcontext[openai.OpenAI]:
    """The module's one client (building one costs ~50 ms); patches act on the classes, so sharing is fine."""
    if server.url not in _clients:
        _clients[server.url] = fresh_client(server)
    return contextlib.nullcontext(_clients[server.url])


def fresh_client(server: FakeLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)


def async_client(server: FakeLLMServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0)


def dump(value: Any) -> Any:
    return value.model_dump(exclude_unset=True) if isinstance(value, pydantic.BaseModel) else value


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    return fake.both("openai", scenario, openai.APIError)


# scenarios: each returns what the caller saw, as plain data ------------------------------------------------------


def chat(server: FakeLLMServer, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        with client(server) as c:
            result = c.chat.completions.create(messages=MESSAGES, **kwargs)
            if kwargs.get("stream"):
                with result as stream:
                    return [dump(chunk) for chunk in stream]
            return dump(result)

    return run


def chat_async(server: FakeLLMServer, **kwargs: Any) -> Callable[[], Any]:
    async def main() -> Any:
        async with async_client(server) as c:
            result = await c.chat.completions.create(messages=MESSAGES, **kwargs)
            if kwargs.get("stream"):
                async with result as stream:
                    return [dump(chunk) async for chunk in stream]
            return dump(result)

    return lambda: asyncio.run(main())


@pytest.mark.parametrize("model", ["gpt-4o", "error-429", "error-500"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("make", [chat, chat_async], ids=["sync", "async"])
def test_chat_matrix(server: FakeLLMServer, make: Any, stream: bool, model: str) -> None:
    seen, span = both(make(server, model=model, stream=stream))
    a = span.attributes
    assert span.name == f"chat {model}" and span.kind == "CHAT_MODEL"
    assert a[attr.GEN_AI_REQUEST_MODEL] == model
    if model.startswith("error"):
        status = int(model.split("-")[1])
        assert seen[2] == status
        assert span.status == "ERROR"
        assert a[attr.HTTP_RESPONSE_STATUS_CODE] == status
        assert a[attr.ERROR_TYPE] == ("RateLimitError" if status == 429 else "InternalServerError")
        assert any(e["name"] == "exception" for e in span.events)
        return
    assert span.status == "OK"
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12 and a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert span.outputs["choices"][0]["message"]["content"] == TEXT
    if stream:
        assert a[attr.STREAM] is True and a[attr.STREAM_CLOSED_EARLY] is False
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN]
        assert all(chunk["choices"] for chunk in seen[1])  # the usage-only chunk we asked for stays hidden


def test_chat_whole_span(server: FakeLLMServer) -> None:
    _, span = both(chat(server, model="gpt-4o", temperature=0.2, max_tokens=50, top_p=0.9, tools=TOOLS, user="u1"))
    assert span.attributes == {
        attr.GEN_AI_OPERATION_NAME: "chat",
        attr.GEN_AI_PROVIDER_NAME: "openai_compatible",  # the fake on 127.0.0.1 is not api.openai.com
        attr.GEN_AI_REQUEST_MODEL: "gpt-4o",
        attr.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        attr.GEN_AI_REQUEST_MAX_TOKENS: 50,
        attr.GEN_AI_REQUEST_TOP_P: 0.9,
        attr.GEN_AI_TOOL_DEFINITIONS: [
            {"type": "function", "name": "weather", "description": "Weather", "parameters": {"type": "object"}},
            {"type": "function", "name": "time", "parameters": {"type": "object"}},
        ],
        attr.GEN_AI_INPUT_MESSAGES: [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        ],
        attr.GEN_AI_RESPONSE_ID: "chatcmpl-1",
        attr.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024",
        attr.GEN_AI_RESPONSE_FINISH_REASONS: ["tool_calls"],
        attr.GEN_AI_USAGE_INPUT_TOKENS: 12,
        attr.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2,
        attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 1,
        attr.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}},
                    {"type": "tool_call", "id": "call_1", "name": "time", "arguments": {"city": "Paris"}},
                ],
                "finish_reason": "tool_calls",
            }
        ],
    }
    assert span.inputs == {
        "messages": MESSAGES,
        "model": "gpt-4o",
        "temperature": 0.2,
        "max_tokens": 50,
        "top_p": 0.9,
        "tools": TOOLS,
        "user": "u1",
    }
    assert span.model == "gpt-4o-2024" and span.input_tokens == 12 and span.output_tokens == 5


def test_streamed_parallel_tool_calls_are_reassembled(server: FakeLLMServer) -> None:
    _, span = both(chat(server, model="gpt-4o", tools=TOOLS, stream=True))
    calls = span.outputs["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("call_0", "weather", '{"city": "Paris"}'),
        ("call_1", "time", '{"city": "Paris"}'),
    ]
    assert span.attributes[attr.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_caller_asking_for_usage_sees_the_usage_chunk(server: FakeLLMServer) -> None:
    seen, span = both(chat(server, model="gpt-4o", stream=True, stream_options={"include_usage": True}))
    assert seen[1][-1]["choices"] == [] and seen[1][-1]["usage"]["prompt_tokens"] == 12
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_usage_is_asked_for_beside_the_callers_extra_body(server: FakeLLMServer) -> None:
    seen, span = both(chat(server, model="gpt-4o", stream=True, extra_body={"metadata": {"k": "v"}}))
    body = server.requests[-1][1]
    assert body["stream_options"] == {"include_usage": True} and body["metadata"] == {"k": "v"}
    assert all(chunk["choices"] for chunk in seen[1])
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_usage_tap_keeps_back_only_the_usage_event() -> None:
    """The usage-only event we asked for is read off the wire; every other event reaches the SDK as it came."""
    from types import SimpleNamespace

    from openai._streaming import SSEDecoder

    from spanlite.autolog._openai_stream import ChatStream
    from spanlite.autolog._patch import Request
    from spanlite.tracing.kinds import SpanKind

    events = [
        '{"id":"c1","choices":[{"index":0,"delta":{"content":"\\"choices\\":[]"}}],"usage":null}',
        '{"id":"c1","choices":[],"usage":null,"prompt_filter_results":[]}',  # Azure's first chunk: not ours to hide
        '{"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5}}',
        "[DONE]",
    ]
    stream = SimpleNamespace(_decoder=SSEDecoder())
    request = Request("chat", SpanKind.CHAT_MODEL, {}, None, {}, hide_usage=True)
    accumulator = ChatStream(request, stream)
    wire = "".join(f"data: {data}\n\n" for data in events).encode()
    passed = [event.data for event in stream._decoder.iter_bytes(iter([wire]))]
    assert passed == [events[0], events[1], events[3]]
    assert (accumulator.result() or {})["usage"] == {"prompt_tokens": 12, "completion_tokens": 5}


def test_a_streams_chunks_are_not_kept_once_the_caller_is_done_with_them(server: FakeLLMServer) -> None:
    """Autolog keeps the events' text for the span, not the chunks: kept, they were walked by every garbage
    collection until the stream ended."""
    import weakref

    spanlite.autolog("openai")
    with client(server) as c:
        stream = c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        chunks = [weakref.ref(next(stream)) for _ in range(3)]
        gc.collect()
        assert [chunk() for chunk in chunks] == [None, None, None]
        rest = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    trace = spanlite.search_traces()[0]
    [span] = spanlite.get_trace(trace.trace_id).spans  # type: ignore[union-attr]
    assert span.outputs["choices"][0]["message"]["content"] == TEXT and rest[-1] is None


@pytest.mark.parametrize("content", ["Hello é", "x" * 300_000, "é" * 100_000])
def test_outputs_text_is_the_same_as_from_a_dump(content: str) -> None:
    """Recorded outputs come from the SDK object's own serialiser: the same text, cut at the same size."""
    from spanlite.autolog import _record
    from spanlite.tracing.serialize import to_json

    message = {
        "role": "assistant",
        "content": content,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    data = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "usage": fake.OPENAI_USAGE,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}]}  # fmt: skip
    completion = openai.types.chat.ChatCompletion.model_validate(data)
    assert _record.json_text(completion) == to_json(_record.plain(completion))


def test_stream_error_midway_ends_span_with_error(server: FakeLLMServer) -> None:
    seen, span = both(chat(server, model="stream-error", stream=True))
    assert seen[0] == "error" and span.status == "ERROR"
    assert span.attributes[attr.ERROR_TYPE] == "APIError"


class Place(pydantic.BaseModel):
    city: str
    country: str


def test_parse_structured_output(server: FakeLLMServer) -> None:
    def run() -> Any:
        with client(server) as c:
            result = c.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Place)
            return result.choices[0].message.parsed

    seen, span = both(run)
    assert seen[1] == Place(city="Paris", country="France")
    assert span.attributes[attr.GEN_AI_OUTPUT_TYPE] == "json"
    assert span.outputs["choices"][0]["message"]["parsed"] == {"city": "Paris", "country": "France"}


def test_chat_stream_helper(server: FakeLLMServer) -> None:
    def run() -> Any:
        with client(server) as c:
            with c.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Place) as stream:
                events = [e.type for e in stream]
                return events, stream.get_final_completion().choices[0].message.parsed

    seen, span = both(run)
    assert seen[1][1] == Place(city="Paris", country="France")
    assert span.outputs["choices"][0]["message"]["content"] == JSON_ANSWER
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


# early close: every way a caller can stop reading ends the span once -----------------------------------------


def _first_then(server: FakeLLMServer, how: str) -> Callable[[], Any]:
    def run() -> Any:
        with client(server) as c:
            if how == "helper":
                with c.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as helper:
                    first = next(iter(helper))
                    helper.close()
                return first.type
            stream = c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            if how == "close":
                first = next(stream)
                stream.close()
            elif how == "with":
                with stream:
                    for first in stream:  # noqa: B007 - the first chunk is read after the loop
                        break
            else:  # dropped: break out, lose the last reference, let the collector have it
                for first in stream:  # noqa: B007 - the first chunk is read after the loop
                    break
                del stream
                gc.collect()
            return dump(first)

    return run


@pytest.mark.parametrize("how", ["close", "with", "helper", "garbage"])
def test_early_close_ends_span_once(server: FakeLLMServer, how: str) -> None:
    _, span = both(_first_then(server, how))
    assert span.status == "OK"
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert span.attributes[attr.GEN_AI_RESPONSE_ID] == "chatcmpl-1"


def test_async_early_close(server: FakeLLMServer) -> None:
    async def main() -> Any:
        async with async_client(server) as c:
            stream = await c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            first = await stream.__anext__()
            await stream.close()
            return dump(first)

    _, span = both(lambda: asyncio.run(main()))
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True


def test_stream_proxy_is_transparent(server: FakeLLMServer) -> None:
    spanlite.autolog("openai")
    with client(server) as c:
        stream = c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.Stream)
        assert stream.response.status_code == 200
        assert isinstance(stream.response, type(stream.__wrapped__.response))
        stream.close()


# Responses API, embeddings, legacy completions, Azure, raw responses ---------------------------------------------


def responses(server: FakeLLMServer, is_async: bool, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        with client(server) as c:
            result = c.responses.create(input="Hi", instructions="Be brief.", **kwargs)
            return [dump(e) for e in result] if kwargs.get("stream") else dump(result)

    async def main() -> Any:
        async with async_client(server) as c:
            result = await c.responses.create(input="Hi", instructions="Be brief.", **kwargs)
            return [dump(e) async for e in result] if kwargs.get("stream") else dump(result)

    return (lambda: asyncio.run(main())) if is_async else run


@pytest.mark.parametrize("model", ["gpt-4o", "error-429"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_responses_matrix(server: FakeLLMServer, is_async: bool, stream: bool, model: str) -> None:
    _seen, span = both(responses(server, is_async, model=model, stream=stream))
    if model.startswith("error"):
        assert span.status == "ERROR" and span.attributes[attr.HTTP_RESPONSE_STATUS_CODE] == 429
        return
    a = span.attributes
    assert a[attr.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "Be brief."}]
    assert a[attr.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "stop"}
    ]
    assert a[attr.GEN_AI_RESPONSE_ID] == "resp_1" and a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_responses_stream_helper_and_tools(server: FakeLLMServer) -> None:
    tools = [{"type": "function", "name": "weather", "parameters": {"type": "object"}, "strict": False}]

    def run() -> Any:
        with client(server) as c:
            with c.responses.stream(model="gpt-4o", input="Hi", tools=tools) as stream:
                for _ in stream:
                    pass
                return dump(stream.get_final_response())

    _, span = both(run)
    assert span.attributes[attr.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_call"]
    assert span.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [
        {"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}}
    ]


def test_embeddings(server: FakeLLMServer) -> None:
    def run() -> Any:
        with client(server) as c:
            return dump(c.embeddings.create(model="text-embedding-3-small", input=["a", "b"]))

    _, span = both(run)
    assert span.name == "embeddings text-embedding-3-small" and span.kind == "EMBEDDING"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 4
    assert span.outputs["data"] == [{"index": 0, "dimensions": 3}, {"index": 1, "dimensions": 3}]


@pytest.mark.parametrize("stream", [False, True])
def test_legacy_completions(server: FakeLLMServer, stream: bool) -> None:
    def run() -> Any:
        with client(server) as c:
            result = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=stream)
            return [dump(x) for x in result] if stream else dump(result)

    _, span = both(run)
    assert span.kind == "LLM" and span.attributes[attr.GEN_AI_OPERATION_NAME] == "text_completion"
    assert span.outputs["choices"][0]["text"] == TEXT
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_azure(server: FakeLLMServer) -> None:
    def run() -> Any:
        with openai.AzureOpenAI(
            azure_endpoint=server.url, api_key="test", api_version="2024-10-21", max_retries=0
        ) as c:
            return dump(c.chat.completions.create(model="gpt-4o", messages=MESSAGES))

    _, span = both(run)
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_raw_and_streaming_responses_keep_working(server: FakeLLMServer) -> None:
    def raw() -> Any:  # a fresh client: with_raw_response binds create() when first used
        with fresh_client(server) as c:
            response = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
            return response.status_code, dump(response.parse())

    def streamed() -> Any:
        with fresh_client(server) as c:
            with c.chat.completions.with_streaming_response.create(model="gpt-4o", messages=MESSAGES) as response:
                return response.status_code, dump(response.parse())

    for scenario in (raw, streamed):
        _, span = both(scenario)
        assert span.attributes[attr.HTTP_RESPONSE_STATUS_CODE] == 200


# configuration, patch lifecycle --------------------------------------------------------------------------------


def test_capture_content_false(server: FakeLLMServer, db_path: Any) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(chat(server, model="gpt-4o", stream=True))
    for key in (attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES, attr.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert key not in span.attributes
    assert span.outputs is None and "messages" not in span.inputs and span.inputs["model"] == "gpt-4o"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_autolog_is_idempotent_and_disable_restores() -> None:
    from openai.resources.chat.completions.completions import AsyncCompletions, Completions

    original, original_async = Completions.__dict__["create"], AsyncCompletions.__dict__["create"]
    spanlite.autolog()
    patched = Completions.__dict__["create"]
    spanlite.autolog("openai")
    assert Completions.__dict__["create"] is patched is not original
    spanlite.autolog("openai", disable=True)
    assert Completions.__dict__["create"] is original
    assert AsyncCompletions.__dict__["create"] is original_async
    with pytest.raises(ValueError, match="does not support"):
        spanlite.autolog("nonsense")


def test_autolog_before_import(tmp_path: Any) -> None:
    code = (
        "import sys, spanlite, wrapt\n"
        "spanlite.autolog('openai')\n"
        "assert 'openai' not in sys.modules\n"
        "from openai.resources.chat.completions.completions import Completions\n"
        "assert isinstance(Completions.__dict__['create'], wrapt.FunctionWrapper)\n"
    )
    env = {"SPANLITE_DB": str(tmp_path / "t.db"), "PATH": "", "SPANLITE_STRICT": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


@pytest.mark.skipif(
    sys.version_info[:3] == (3, 13, 0),
    reason="CPython 3.13.0 segfaults at exit collecting the openai SDK's open stream, without spanlite too "
    "(faulthandler: 'Garbage-collecting' in httpx's Client.close from openai/_streaming.py __stream__); "
    "3.11, 3.12 and plain httpx do not",
)
def test_stream_open_at_exit_ends_its_span(server: FakeLLMServer, db_path: Any) -> None:
    """A stream still referenced when the interpreter exits has its span ended (closed early) and stored."""
    code = (
        "import openai, spanlite\n"
        "spanlite.autolog('openai')\n"
        f"client = openai.OpenAI(base_url={server.url!r}, api_key='test', max_retries=0)\n"
        "stream = client.chat.completions.create(model='gpt-4o', messages=[{'role': 'user', 'content': 'Hi'}],"
        " stream=True)\n"
        "next(stream)\n"
    )
    env = {"SPANLITE_DB": str(db_path), "PATH": "", "SPANLITE_STRICT": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    found = spanlite.search_traces()
    assert len(found) == 1
    trace = spanlite.get_trace(found[0].trace_id)
    assert trace is not None and [s.attributes[attr.STREAM_CLOSED_EARLY] for s in trace.spans] == [True]


def test_dropped_stream_that_cannot_be_hashed_ends_its_span() -> None:
    """Open streams are tracked by weak reference without hashing or comparing the SDK's stream."""
    from spanlite.autolog import _stream

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __eq__(self, other: object) -> bool:
            raise AssertionError("compared")

    class Call:
        ended: ClassVar[list[bool]] = []

        def finish_stream(self, accumulator: Any, exc: BaseException | None, closed_early: bool) -> None:
            self.ended.append(closed_early)

    proxy = _stream.wrap_stream(Unhashable(), Call(), None)  # type: ignore[arg-type]
    del proxy
    gc.collect()
    assert Call.ended == [True]


# a failure inside our recording never changes what the caller gets ----------------------------------------------


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLITE_STRICT")


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("spanlite bug")


def test_failing_request_reader_still_calls_once(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _record

    monkeypatch.setattr(_record, "inputs", _boom)
    spanlite.autolog("openai")
    with client(server) as c:
        before = len(server.requests)
        result = c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(result) is openai.types.chat.ChatCompletion and result.choices[0].message.content == TEXT
    assert len(server.requests) == before + 1


def test_failing_response_recorder_returns_sdk_object(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _record

    monkeypatch.setattr(_record, "response_attributes", _boom)
    seen, span = both(chat(server, model="gpt-4o"))
    assert seen[1]["choices"][0]["message"]["content"] == TEXT
    assert span.status == "OK"  # the span still ended


def test_failing_error_recorder_passes_sdk_exception(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _patch

    monkeypatch.setattr(_patch, "_error_attributes", _boom)
    spanlite.autolog("openai")
    with client(server) as c, pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(model="error-429", messages=MESSAGES)
    assert caught.value.status_code == 429


def test_failing_stream_accumulator_keeps_stream_intact(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _openai_stream

    monkeypatch.setattr(_openai_stream.ChatStream, "add", _boom)
    monkeypatch.setattr(_openai_stream.ChatStream, "is_token", _boom)
    seen, _span = both(chat(server, model="gpt-4o", stream=True))
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in seen[1]) == TEXT


def test_failing_stream_wrapper_returns_sdk_stream(server: FakeLLMServer, lenient: None, monkeypatch: Any) -> None:
    from spanlite.autolog import _stream

    monkeypatch.setattr(_stream, "wrap_stream", _boom)
    seen, _span = both(chat(server, model="gpt-4o", stream=True, stream_options={"include_usage": True}))
    assert len(seen[1]) == 6


def test_suppressed_instrumentation_makes_no_span(server: FakeLLMServer) -> None:
    """OTel's suppress-instrumentation key, which every instrumentation honours (a judge's own calls, an exporter)."""
    from opentelemetry import context as otel_context

    spanlite.autolog("openai")
    token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        _, spans = fake.observe(chat(server, model="gpt-4o"), openai.APIError)
    finally:
        otel_context.detach(token)
    assert spans == []
