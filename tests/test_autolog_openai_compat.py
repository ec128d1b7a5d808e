"""autolog names the provider behind an OpenAI SDK client from its base URL (DeepSeek, Groq, Ollama, …).

Nothing may leave the machine, so a client built for a remote host gets an httpx transport (``_reroute``) that sends
every request over a real HTTP connection to the fake server on 127.0.0.1 instead: the SDK builds the request for the
provider's host (the base URL that names the provider is the client's own), and only the socket's address changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

import fake_llm_server as fake
import spanlite
from _reroute import AsyncToFake, ToFake
from fake_llm_server import FakeLLMServer
from spanlite.tracing import attributes as attr

MESSAGES = [{"role": "user", "content": "Hi"}]

# (base URL as each provider documents it for the OpenAI SDK, the name autolog gives it)
PROVIDERS = [
    ("https://api.openai.com/v1", "openai"),
    ("https://my-resource.openai.azure.com/openai/v1/", "azure.ai.openai"),
    ("https://models.inference.ai.azure.com", "azure.ai.inference"),
    ("https://api.deepseek.com", "deepseek"),
    ("https://api.deepseek.com/v1", "deepseek"),
    ("https://api.together.xyz/v1", "together_ai"),
    ("https://api.together.ai/v1", "together_ai"),
    ("https://openrouter.ai/api/v1", "openrouter"),
    ("https://api.groq.com/openai/v1", "groq"),
    ("https://api.fireworks.ai/inference/v1", "fireworks_ai"),
    ("https://api.mistral.ai/v1", "mistral_ai"),
    ("https://api.x.ai/v1", "x_ai"),
    ("https://api.perplexity.ai", "perplexity"),
    ("https://generativelanguage.googleapis.com/v1beta/openai/", "gcp.gemini"),
    (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/endpoints/openapi",
        "gcp.vertex_ai",
    ),
    ("https://api.anthropic.com/v1/", "anthropic"),
    ("https://api.cohere.ai/compatibility/v1", "cohere"),
    ("http://localhost:11434/v1", "ollama"),
    ("http://gpu-box.lan:11434/v1", "ollama"),  # Ollama's port is its own: named on any host
    ("http://localhost:1234/v1", "lm_studio"),
    ("http://127.0.0.1:1234/v1", "lm_studio"),
    ("http://gpu-box.lan:1234/v1", "openai_compatible"),  # 1234 is anyone's port away from this machine
    ("http://localhost:8000/v1", "openai_compatible"),  # vLLM's default port is every web server's
    ("https://llm.internal.example.com/v1", "openai_compatible"),
    ("https://API.DeepSeek.com/v1", "deepseek"),  # hosts are case-insensitive
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    spanlite.autolog("openai", disable=True)


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="some-model", messages=MESSAGES, **kwargs).model_dump()


@pytest.mark.parametrize(("base_url", "provider"), PROVIDERS)
def test_provider_named_from_base_url(server: FakeLLMServer, base_url: str, provider: str) -> None:
    before = len(server.requests)
    with openai.OpenAI(
        base_url=base_url, api_key="test", max_retries=0, http_client=httpx.Client(transport=ToFake(server.url))
    ) as client:
        _, span = fake.both("openai", lambda: chat(client), openai.APIError)
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == provider
    assert span.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 12  # the answer came back from the fake
    assert len(server.requests) == before + 2  # both calls reached it, without and with autolog


def test_loopback_fake_on_its_own_port_is_openai_compatible(server: FakeLLMServer) -> None:
    with openai.OpenAI(base_url=server.url, api_key="test", max_retries=0) as client:
        _, span = fake.both("openai", lambda: chat(client, stream=False), openai.APIError)
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "openai_compatible"


def test_stream_and_async_name_the_provider(server: FakeLLMServer) -> None:
    async def main() -> list[Any]:
        async with openai.AsyncOpenAI(
            base_url="https://api.groq.com/openai/v1",
            api_key="test",
            max_retries=0,
            http_client=httpx.AsyncClient(transport=AsyncToFake(server.url)),
        ) as client:
            stream = await client.chat.completions.create(model="llama-3.3-70b", messages=MESSAGES, stream=True)
            return [chunk.model_dump() async for chunk in stream]

    _, span = fake.both("openai", lambda: asyncio.run(main()), openai.APIError)
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "groq"
    assert span.attributes[attr.STREAM] is True and span.attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_a_changed_base_url_names_the_new_provider(server: FakeLLMServer) -> None:
    """The name is remembered per base URL object, so setting ``client.base_url`` (a new object) is seen."""
    spanlite.autolog("openai")
    with openai.OpenAI(
        base_url="https://api.mistral.ai/v1",
        api_key="test",
        max_retries=0,
        http_client=httpx.Client(transport=ToFake(server.url)),
    ) as client:
        names = []
        for base_url in ("https://api.mistral.ai/v1", "https://api.x.ai/v1", "https://api.mistral.ai/v1"):
            client.base_url = base_url  # type: ignore[assignment]
            _, spans = fake.observe(lambda: chat(client), openai.APIError)
            names.append(spans[0].attributes[attr.GEN_AI_PROVIDER_NAME])
    assert names == ["mistral_ai", "x_ai", "mistral_ai"]


def test_azure_client_on_any_endpoint_stays_azure(server: FakeLLMServer) -> None:
    """An ``AzureOpenAI`` client behind a gateway of the company's own host is still Azure OpenAI."""
    with openai.AzureOpenAI(
        azure_endpoint="https://llm-gateway.example.com", api_key="test", api_version="2024-10-21", max_retries=0,
        http_client=httpx.Client(transport=ToFake(server.url)),
    ) as client:  # fmt: skip
        _, span = fake.both("openai", lambda: chat(client), openai.APIError)
    assert span.attributes[attr.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
