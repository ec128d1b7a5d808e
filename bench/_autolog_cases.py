"""The model SDKs the autolog benchmarks measure: per provider, a client of its real SDK against the tests' fake
server for its wire protocol, one chat call and one streamed call.

Adding a provider is one ``Case`` (and its three small functions): the benchmarks time the same calls without
autolog, inside a bare OTel span, and with ``autolog(case.library)``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_FAKE = "fake_llm_server:FakeLLMServer"  # speaks OpenAI's and Anthropic's APIs
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


_CASES = (
    Case("openai", "openai", _FAKE, "gpt-4o-mini", _openai_client, _openai_chat, _openai_stream),
    Case("anthropic", "anthropic", _FAKE, "claude-3-5-haiku", _anthropic_client, _anthropic_chat, _anthropic_stream),
)
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
