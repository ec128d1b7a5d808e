"""The model SDKs the autolog benchmarks measure: per provider, a client of its real SDK against the tests' fake
server for its wire protocol, one chat call and one streamed call.

Adding a provider is one ``Case`` (and its three small functions): the benchmarks time the same calls without
autolog, inside a bare OTel span, and with ``autolog(case.library)``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_FAKE = "fake_llm_server:FakeLLMServer"  # speaks OpenAI's and Anthropic's APIs
_OPENAI_LIKE = "fake_openai_like:FakeOpenAILikeServer"  # speaks Mistral's and Groq's
SYSTEM = "Be brief."
PROMPT = "Say hello."


@dataclass(frozen=True)
class Case:
    library: str  # what autolog() is given
    module: str  # the SDK's import name: the case runs where it is installed
    fake: str  # the fake server, "module:Class" in tests/, started in a process of its own
    model: str
    client: Callable[[str], Any]  # the fake server's URL -> a client of the real SDK
    chat: Callable[[Any, str], object]  # (client, model): one call, its whole response read
    stream: Callable[[Any, str], object]  # (client, model): one streamed call, every chunk read

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


# openai -----------------------------------------------------------------------------------------------------------


def _openai_client(url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)


_OPENAI_MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]


def _openai_chat(client: Any, model: str) -> object:
    return client.chat.completions.create(model=model, messages=_OPENAI_MESSAGES)


def _openai_stream(client: Any, model: str) -> object:
    for _ in client.chat.completions.create(model=model, messages=_OPENAI_MESSAGES, stream=True):
        pass
    return None


# anthropic --------------------------------------------------------------------------------------------------------


def _anthropic_client(url: str) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)


_ANTHROPIC_MESSAGES = [{"role": "user", "content": PROMPT}]


def _anthropic_chat(client: Any, model: str) -> object:
    return client.messages.create(model=model, max_tokens=100, system=SYSTEM, messages=_ANTHROPIC_MESSAGES)


def _anthropic_stream(client: Any, model: str) -> object:
    kwargs = {"max_tokens": 100, "system": SYSTEM, "messages": _ANTHROPIC_MESSAGES, "stream": True}
    for _ in client.messages.create(model=model, **kwargs):
        pass
    return None


# google-genai (Gemini) --------------------------------------------------------------------------------------------


def _gemini_client(url: str) -> Any:
    from google import genai

    return genai.Client(api_key="test", http_options={"base_url": url})


_GEMINI_CONFIG = {"system_instruction": SYSTEM}


def _gemini_chat(client: Any, model: str) -> object:
    return client.models.generate_content(model=model, contents=PROMPT, config=_GEMINI_CONFIG)


def _gemini_stream(client: Any, model: str) -> object:
    for _ in client.models.generate_content_stream(model=model, contents=PROMPT, config=_GEMINI_CONFIG):
        pass
    return None


# boto3 Bedrock Runtime (Converse) ---------------------------------------------------------------------------------


def _bedrock_client(url: str) -> Any:
    # Dummy credentials, and none of the machine's AWS profiles, config or instance metadata (as in the tests).
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true"
    )
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=url, aws_access_key_id="AKIDUMMY",
        aws_secret_access_key="dummy", config=Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip


_BEDROCK_SYSTEM = [{"text": SYSTEM}]
_BEDROCK_MESSAGES = [{"role": "user", "content": [{"text": PROMPT}]}]


def _bedrock_chat(client: Any, model: str) -> object:
    return client.converse(modelId=model, system=_BEDROCK_SYSTEM, messages=_BEDROCK_MESSAGES)


def _bedrock_stream(client: Any, model: str) -> object:
    for _ in client.converse_stream(modelId=model, system=_BEDROCK_SYSTEM, messages=_BEDROCK_MESSAGES)["stream"]:
        pass
    return None


# mistralai and groq (OpenAI-like messages) ------------------------------------------------------------------------


def _mistral_client(url: str) -> Any:
    from mistralai.client import Mistral

    return Mistral(api_key="test", server_url=url)


def _mistral_chat(client: Any, model: str) -> object:
    return client.chat.complete(model=model, messages=_OPENAI_MESSAGES)


def _mistral_stream(client: Any, model: str) -> object:
    for _ in client.chat.stream(model=model, messages=_OPENAI_MESSAGES):
        pass
    return None


def _groq_client(url: str) -> Any:
    import groq

    return groq.Groq(base_url=url, api_key="test", max_retries=0)


# ollama -----------------------------------------------------------------------------------------------------------


def _ollama_client(url: str) -> Any:
    import ollama

    return ollama.Client(host=url)


def _ollama_chat(client: Any, model: str) -> object:
    return client.chat(model, _OPENAI_MESSAGES)


def _ollama_stream(client: Any, model: str) -> object:
    for _ in client.chat(model, _OPENAI_MESSAGES, stream=True):
        pass
    return None


# cohere (ClientV2) ------------------------------------------------------------------------------------------------


def _cohere_client(url: str) -> Any:
    import cohere

    return cohere.ClientV2(api_key="test", base_url=url)


def _cohere_chat(client: Any, model: str) -> object:
    return client.chat(model=model, messages=_OPENAI_MESSAGES)


def _cohere_stream(client: Any, model: str) -> object:
    for _ in client.chat_stream(model=model, messages=_OPENAI_MESSAGES):
        pass
    return None


_CASES = (
    Case("openai", "openai", _FAKE, "gpt-4o-mini", _openai_client, _openai_chat, _openai_stream),
    Case("anthropic", "anthropic", _FAKE, "claude-3-5-haiku", _anthropic_client, _anthropic_chat, _anthropic_stream),
    Case("gemini", "google.genai", "fake_gemini:FakeGeminiServer", "gemini-2.5-flash", _gemini_client, _gemini_chat,
         _gemini_stream),
    Case("bedrock", "boto3", "fake_bedrock:FakeBedrock", "anthropic.claude-3-haiku-20240307-v1:0", _bedrock_client,
         _bedrock_chat, _bedrock_stream),
    Case("mistral", "mistralai.client", _OPENAI_LIKE, "mistral-small", _mistral_client, _mistral_chat,
         _mistral_stream),
    Case("groq", "groq", _OPENAI_LIKE, "llama-3.3", _groq_client, _openai_chat, _openai_stream),
    Case("ollama", "ollama", "fake_ollama:FakeOllama", "llama3", _ollama_client, _ollama_chat, _ollama_stream),
    Case("cohere", "cohere", "fake_cohere:FakeCohere", "command-a", _cohere_client, _cohere_chat, _cohere_stream),
)  # fmt: skip
CASES = {case.library: case for case in _CASES}


def chosen(names: list[str] | None) -> list[Case]:
    """The cases named (an unknown or uninstalled one is an error), or every installed one."""
    if not names:
        return [case for case in CASES.values() if case.installed()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise SystemExit(f"unknown provider {', '.join(unknown)}; known: {', '.join(CASES)}")
    missing = [name for name in names if not CASES[name].installed()]
    if missing:
        raise SystemExit(f"not installed: {', '.join(CASES[name].module for name in missing)}")
    return [CASES[name] for name in names]
