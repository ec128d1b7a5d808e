"""Which provider an OpenAI SDK client talks to, from its base URL: many providers serve the OpenAI API.

Names are the OTel GenAI convention's ``gen_ai.provider.name`` values where it has one (``deepseek``, ``groq``,
``mistral_ai``, ``x_ai``, ``perplexity``, ``gcp.gemini``, …), else LiteLLM's name for the provider (``together_ai``,
``openrouter``, ``fireworks_ai``, ``ollama``, ``lm_studio``), so both integrations name a provider alike.

Only reliable signals count: a provider's own API host, Ollama's port 11434 (on any host: it is Ollama's own), and
LM Studio's 1234 on this machine (elsewhere it is anyone's port). vLLM's default port, 8000, is every web server's, so
a vLLM server, like any host not listed, is ``openai_compatible``, never ``openai``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

OPENAI_COMPATIBLE = "openai_compatible"

_HOSTS = {
    "api.openai.com": "openai",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together_ai",
    "api.together.ai": "together_ai",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.fireworks.ai": "fireworks_ai",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "api.anthropic.com": "anthropic",
    "api.cohere.ai": "cohere",
    "api.cohere.com": "cohere",
}
# Checked in order, the first that ends the host wins.
_SUFFIXES = (
    (".inference.ai.azure.com", "azure.ai.inference"),
    (".azure.com", "azure.ai.openai"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),  # also "us-central1-aiplatform…": regional hosts
)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})

# id(base URL object) -> (that object, its name). Holding the object keeps its id from being reused; a client's
# base URL is one object until ``client.base_url`` is set, so a call pays for one dict lookup. Bounded: an app that
# builds a client per request must not grow it.
_named: dict[int, tuple[Any, str]] = {}
_MAX_NAMED = 256


def provider_name(client: Any) -> str:
    """The provider an OpenAI SDK client (``OpenAI``, ``AzureOpenAI`` and their async twins) talks to."""
    url = getattr(client, "_configured_base_url", None)  # what openai 2+'s base_url returns, after an import
    if url is None:  # statement that costs 3 µs a call
        url = getattr(client, "base_url", None)
    seen = _named.get(id(url))
    if seen is not None and seen[0] is url:
        return seen[1]
    name = "azure.ai.openai" if "Azure" in type(client).__name__ else name_of_url(str(url or ""))
    if len(_named) >= _MAX_NAMED:
        _named.clear()
    _named[id(url)] = (url, name)
    return name


def name_of_url(url: str) -> str:
    """The provider a base URL names, ``openai_compatible`` when it names none."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:  # a port out of range: the SDK's own error to raise, when it connects
        return OPENAI_COMPATIBLE
    if host in _HOSTS:
        return _HOSTS[host]
    for suffix, name in _SUFFIXES:
        if host.endswith(suffix):
            return name
    if port == 11434:
        return "ollama"
    if port == 1234 and (host in _LOOPBACK or host.startswith("127.")):
        return "lm_studio"
    return OPENAI_COMPATIBLE
