"""autolog for LiteLLM: the real library over the fake OpenAI-compatible server, with the OpenAI SDK autologged too."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import litellm
import openai  # LiteLLM's errors subclass the OpenAI SDK's
import pytest

import fake_llm_server as fake
import spanlite
from fake_llm_server import TEXT, FakeLLMServer
from spanlite.store import SpanRecord
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "user", "content": "Hi"}]
# LiteLLM's own TypedDicts (an OAuth device-code type) trip a pydantic warning on first use; not ours to fix.
# LiteLLM's stream handler reads pydantic's model_* attributes off instances (is_model_response_stream_empty, on
# streams that carry usage); deprecated in pydantic 2.11, and LiteLLM's to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Item.* on TypedDict class .* using the `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore:Accessing the 'model_.*' attribute on the instance:DeprecationWarning"),
    # Sync calls leave LiteLLM's own background event loop (and its self-pipe) unclosed, autolog or not.
    pytest.mark.filterwarnings("ignore:unclosed event loop:ResourceWarning"),
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()
    with warnings.catch_warnings():  # collect LiteLLM's leftover loops here, not in some later test module
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("litellm", "openai", disable=True)


def both(scenario: Callable[[], Any]) -> tuple[Any, SpanRecord]:
    """Without and with autolog (LiteLLM and the OpenAI SDK under it): same result, exactly one span."""
    spanlite.autolog("openai", disable=True)
    spanlite.autolog("litellm", disable=True)
    plain, spans = fake.observe(scenario, openai.APIError)
    assert spans == []
    spanlite.autolog("litellm", "openai")
    logged, spans = fake.observe(scenario, openai.APIError)
    assert logged == plain
    assert len(spans) == 1, [s.name for s in spans]
    return logged, fake.decoded(spans[0])


def dump(value: Any) -> Any:
    """Plain data; LiteLLM stamps stream chunks with the local clock, so ``created`` is left out of those."""
    data = value.model_dump()
    if data.get("object") == "chat.completion.chunk":
        data.pop("created", None)
    return data


def completion(server: FakeLLMServer, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        result = litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=server.url, api_key="test", **kwargs
        )
        return [dump(c) for c in result] if kwargs.get("stream") else dump(result)

    return run


def acompletion(server: FakeLLMServer, **kwargs: Any) -> Callable[[], Any]:
    async def main() -> Any:
        result = await litellm.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=server.url, api_key="test", **kwargs
        )
        return [dump(c) async for c in result] if kwargs.get("stream") else dump(result)

    return lambda: asyncio.run(main())


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("make", [completion, acompletion], ids=["sync", "async"])
def test_completion(server: FakeLLMServer, make: Any, stream: bool) -> None:
    seen, span = both(make(server, stream=stream))
    a = span.attributes
    assert span.name == "chat gpt-4o-mini" and span.kind == "CHAT_MODEL" and span.status == "OK"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "openai" and a[attr.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12 and a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert a[attr.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    assert a[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": TEXT}]
    assert span.inputs == {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "stream": stream}
    if stream:
        assert a[attr.STREAM] is True and a[attr.STREAM_CLOSED_EARLY] is False
        assert all(chunk["choices"] for chunk in seen[1])  # the usage-only chunk we asked for stays hidden
    trace = spanlite.get_trace(span.trace_id)
    assert trace is not None and trace.info.input_tokens == 12  # counted once


def test_tool_calls_and_errors(server: FakeLLMServer) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    _, span = both(completion(server, tools=tools, temperature=0.5))
    assert span.attributes[attr.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert span.attributes[attr.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [
        {"type": "tool_call", "id": "call_0", "name": "weather", "arguments": {"city": "Paris"}}
    ]

    def failing() -> Any:
        return litellm.completion(
            model="openai/error-429", messages=MESSAGES, api_base=server.url, api_key="test", num_retries=0
        )

    seen, span = both(failing)
    assert seen[0] == "error" and seen[1] is litellm.exceptions.RateLimitError
    assert span.status == "ERROR" and span.attributes[attr.ERROR_TYPE] == "RateLimitError"


def test_stream_closed_early(server: FakeLLMServer) -> None:
    spanlite.autolog("litellm", "openai")
    with spanlite.start_span("user") as root:
        stream = litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=server.url, api_key="test", stream=True
        )
        next(iter(stream))
        stream.close()
    spanlite.flush()
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    span = next(s for s in trace.spans if s.kind == "CHAT_MODEL")
    assert span.attributes[attr.STREAM_CLOSED_EARLY] is True and len(trace.spans) == 2


def test_embeddings(server: FakeLLMServer) -> None:
    def run() -> Any:
        return dump(
            litellm.embedding(
                model="openai/text-embedding-3-small", input=["a", "b"], api_base=server.url, api_key="test"
            )
        )

    def run_async() -> Any:
        return dump(
            asyncio.run(
                litellm.aembedding(
                    model="openai/text-embedding-3-small", input=["a"], api_base=server.url, api_key="test"
                )
            )
        )

    for scenario in (run, run_async):
        _, span = both(scenario)
        assert span.name == "embeddings text-embedding-3-small" and span.kind == "EMBEDDING"
        assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "openai"
        assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 4
        assert span.outputs["data"][0] == {"index": 0, "dimensions": 3}


@pytest.mark.parametrize(
    ("model", "provider"),
    [("xai/grok-3", "x_ai"), ("deepseek/deepseek-chat", "deepseek")],
)
def test_openai_compatible_providers_take_convention_names(server: FakeLLMServer, model: str, provider: str) -> None:
    """LiteLLM's ``xai`` is the GenAI convention's ``x_ai``; DeepSeek's name already matches it."""
    _, span = both(
        lambda: dump(litellm.completion(model=model, messages=MESSAGES, api_base=server.url, api_key="test"))
    )
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == provider
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12
