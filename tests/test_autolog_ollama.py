"""autolog for the Ollama SDK: the real client over real HTTP (NDJSON streams) against a fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ollama
import pydantic
import pytest

import fake_llm_server as fake
import spanlite
from fake_ollama import ARGUMENTS, TEXT, THINKING, FakeOllama
from spanlite.store import SpanRecord, TraceStore
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "weather", "description": "Weather", "parameters": {}}}]
OPTIONS = {"temperature": 0.5, "num_predict": 100, "stop": ["END"]}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOllama]:
    srv = FakeOllama().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: FakeOllama) -> Iterator[ollama.Client]:
    """The module's one client; patches act on the classes, so sharing it is fine."""
    with ollama.Client(host=server.url) as c:
        yield c


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("ollama", disable=True)


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    return fake.both("ollama", scenario, ollama.ResponseError)


def dump(value: Any) -> Any:
    return value.model_dump() if isinstance(value, pydantic.BaseModel) else value


def call(client: ollama.Client, method: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        result = getattr(client, method)(*args, **kwargs)
        return [dump(part) for part in result] if kwargs.get("stream") else dump(result)

    return run


def call_async(server: FakeOllama, method: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    async def main() -> Any:
        async with ollama.AsyncClient(host=server.url) as c:
            result = await getattr(c, method)(*args, **kwargs)
            return [dump(part) async for part in result] if kwargs.get("stream") else dump(result)

    return lambda: asyncio.run(main())


def make(how: str, client: ollama.Client, server: FakeOllama, method: str, *args: Any, **kwargs: Any) -> Any:
    return call(client, method, *args, **kwargs) if how == "sync" else call_async(server, method, *args, **kwargs)


@pytest.mark.parametrize("model", ["llama3", "error-404", "error-500"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("how", ["sync", "async"])
def test_chat_matrix(client: ollama.Client, server: FakeOllama, how: str, stream: bool, model: str) -> None:
    seen, span = both(make(how, client, server, "chat", model, MESSAGES, stream=stream, options=OPTIONS))
    a = span.attributes
    assert span.name == f"chat {model}" and span.kind == "CHAT_MODEL"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "ollama" and a[attr.GEN_AI_OPERATION_NAME] == "chat"
    if model.startswith("error"):
        status = int(model.split("-")[1])
        assert seen[:3] == ("error", ollama.ResponseError, status) and span.status == "ERROR"
        assert a[attr.HTTP_RESPONSE_STATUS_CODE] == status and a[attr.ERROR_TYPE] == "ResponseError"
        assert [e["name"] for e in span.events][-1] == "exception"
        return
    assert span.status == "OK"
    assert a[attr.GEN_AI_REQUEST_TEMPERATURE] == 0.5 and a[attr.GEN_AI_REQUEST_MAX_TOKENS] == 100
    assert a[attr.GEN_AI_REQUEST_STOP_SEQUENCES] == ["END"]
    assert a[attr.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "stop"}
    ]
    assert a[attr.GEN_AI_RESPONSE_MODEL] == model and a[attr.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12 and a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert span.outputs["message"]["content"] == TEXT and span.outputs["eval_count"] == 5
    if stream:
        assert [e["name"] for e in span.events] == [attr.EVENT_FIRST_TOKEN] and a[attr.STREAM] is True


def weather(city: str) -> str:
    """Get the weather.

    Args:
      city: The city
    """
    return "sunny"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip_and_thinking(client: ollama.Client, stream: bool) -> None:
    _, first = both(call(client, "chat", "llama3", MESSAGES, tools=TOOLS, think=True, stream=stream))
    call_part = {"type": "tool_call", "id": None, "name": "weather", "arguments": ARGUMENTS}
    reasoning = {"type": "reasoning", "content": THINKING}
    assert first.attributes[attr.GEN_AI_TOOL_DEFINITIONS] == [{"type": "function", **TOOLS[0]["function"]}]
    assert first.attributes[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [reasoning, call_part], "finish_reason": "stop"}
    ]
    history = [
        *MESSAGES,
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "weather", "arguments": ARGUMENTS}}]},
        {"role": "tool", "content": "sunny", "tool_name": "weather"},
    ]
    _, second = both(call(client, "chat", "llama3", history, tools=[weather], stream=stream))
    assert second.attributes[attr.GEN_AI_INPUT_MESSAGES][1:] == [
        {"role": "assistant", "parts": [call_part]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": None, "response": "sunny", "name": "weather"}]},
    ]
    [definition] = second.attributes[attr.GEN_AI_TOOL_DEFINITIONS]  # a Python function, read as the SDK reads it
    assert definition["name"] == "weather" and definition["description"] == "Get the weather."
    assert second.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": TEXT}]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("how", ["sync", "async"])
def test_generate(client: ollama.Client, server: FakeOllama, how: str, stream: bool) -> None:
    _, span = both(make(how, client, server, "generate", "llama3", "Hi", system="Be brief.", stream=stream))
    a = span.attributes
    assert span.name == "text_completion llama3" and span.kind == "LLM"
    assert a[attr.GEN_AI_OPERATION_NAME] == "text_completion"
    assert a[attr.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "Be brief."}]
    assert a[attr.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "stop"}
    ]
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12 and a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert span.outputs["response"] == TEXT and "context" not in span.outputs


@pytest.mark.parametrize("how", ["sync", "async"])
def test_embed(client: ollama.Client, server: FakeOllama, how: str) -> None:
    _, span = both(make(how, client, server, "embed", "nomic", ["a", "b"]))
    assert span.name == "embeddings nomic" and span.kind == "EMBEDDING"
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert span.inputs == {"model": "nomic", "input": ["a", "b"]}
    assert span.outputs == {"model": "nomic", "data": [{"index": 0, "dimensions": 3}, {"index": 1, "dimensions": 3}]}
    _, older = both(make(how, client, server, "embeddings", model="nomic", prompt="a"))
    assert older.kind == "EMBEDDING" and older.outputs == {"model": None, "data": [{"index": 0, "dimensions": 3}]}


def test_stream_error_midway(client: ollama.Client) -> None:
    seen, span = both(call(client, "chat", "stream-error", MESSAGES, stream=True))
    assert seen[:2] == ("error", ollama.ResponseError) and span.status == "ERROR"
    assert span.outputs["message"]["content"] == "Hello"  # what arrived before the error
    assert attr.HTTP_RESPONSE_STATUS_CODE not in span.attributes  # the SDK says -1: there was no HTTP error


def _first_then(client: ollama.Client, how: str) -> Callable[[], Any]:
    def run() -> Any:
        stream = client.chat("llama3", MESSAGES, stream=True)
        first = next(stream)
        if how == "close":
            stream.close()
        else:
            del stream
            gc.collect()
        return dump(first)

    return run


@pytest.mark.parametrize("how", ["close", "garbage"])
def test_early_close_ends_span_once(client: ollama.Client, how: str) -> None:
    _, span = both(_first_then(client, how))
    assert span.status == "OK" and span.attributes[attr.STREAM_CLOSED_EARLY] is True
    assert span.outputs["message"]["content"] == "Hello"


def test_async_early_close(server: FakeOllama) -> None:
    """``aclose()`` on the async generator ends the span then, not when the generator is dropped later."""

    async def main() -> Any:
        async with ollama.AsyncClient(host=server.url) as c:
            stream = await c.generate("llama3", "Hi", stream=True)
            first = await stream.__anext__()
            await stream.aclose()
            spanlite.flush()
            ended = spanlite.get_trace(root.trace_id)
            assert ended is not None and [s.name for s in ended.spans] == ["text_completion llama3"]
            assert ended.spans[0].attributes[attr.STREAM_CLOSED_EARLY] is True
            return dump(first), stream  # the generator is still referenced here

    spanlite.autolog("ollama")
    with spanlite.start_span("test") as root:
        first, _ = asyncio.run(main())
    assert first["response"] == "Hello"


def test_capture_content_false(client: ollama.Client, db_path: Any) -> None:
    spanlite.configure(db=db_path, capture_content=False)
    _, span = both(call(client, "chat", "llama3", [{"role": "system", "content": "secret"}], stream=True))
    for key in (attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES):
        assert key not in span.attributes
    assert span.outputs is None and span.inputs == {"model": "llama3", "stream": True}
    assert span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    _, generated = both(call(client, "generate", "llama3", "secret", system="secret"))
    assert "secret" not in json.dumps([generated.attributes, generated.inputs, generated.outputs])


def test_disable_restores_everything() -> None:
    def current() -> list[Any]:
        return [ollama.Client.__dict__["chat"], ollama.AsyncClient.__dict__["embed"], ollama.__dict__["generate"]]

    originals = current()
    spanlite.autolog("ollama")
    spanlite.autolog("ollama")
    assert all(now is not was for now, was in zip(current(), originals))
    spanlite.autolog("ollama", disable=True)
    assert all(now is was for now, was in zip(current(), originals))


_MODULE_FUNCTIONS = """
import os, sys
import spanlite
spanlite.configure(db=sys.argv[1])
if sys.argv[2] == "before":
    spanlite.autolog("ollama")
import ollama
if sys.argv[2] == "after":
    spanlite.autolog("ollama")
with spanlite.start_span("app"):
    ollama.chat("llama3", [{"role": "user", "content": "Hi"}])
    for part in ollama.generate("llama3", "Hi", stream=True):
        pass
    ollama.embed("nomic", "Hi")
"""


@pytest.mark.parametrize("order", ["before", "after"])
def test_module_functions_traced_whenever_autolog_runs(server: FakeOllama, tmp_path: Path, order: str) -> None:
    """``ollama.chat`` is the default client's bound method: traced whether autolog() comes before or after
    ``import ollama``. A fresh interpreter, so the import really happens where the script says."""
    db = tmp_path / "traces.db"
    env = {**os.environ, "OLLAMA_HOST": server.url, "SPANLITE_STRICT": "1"}
    script = textwrap.dedent(_MODULE_FUNCTIONS)
    done = subprocess.run([sys.executable, "-c", script, str(db), order], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    with TraceStore(db) as store:
        [summary] = store.search_traces()
        names = sorted(s.name for s in store.get_trace(summary.trace_id).spans)  # type: ignore[union-attr]
    assert names == ["app", "chat llama3", "embeddings nomic", "text_completion llama3"]


def test_langchain_ollama_one_model_span(server: FakeOllama) -> None:
    """ChatOllama calls the Ollama SDK: with both autologged, LangChain's model span is the only one."""
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model="llama3", base_url=server.url)
    spanlite.autolog("ollama", "langchain")
    try:
        with spanlite.start_span("app") as root:
            answer = llm.invoke("Hi")
        spans = spanlite.get_trace(root.trace_id).spans  # type: ignore[union-attr]
    finally:
        spanlite.autolog("langchain", disable=True)
    assert answer.content == TEXT
    models = [s for s in spans if s.kind in ("CHAT_MODEL", "LLM")]
    assert len(models) == 1 and models[0].attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
