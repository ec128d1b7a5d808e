"""Automatic spans for LLM clients: ``autolog()`` patches the SDKs so every model call is a span.

Each supported library has one module here that describes what to record; the patching itself is shared
(``_patch.py``, ``_stream.py``). Patches go on when the library is imported, or at once if it already is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable
from types import ModuleType

from spanlite.tracing._guard import guard

__all__ = ["autolog", "import_names", "supported"]

# library import name -> the module of ours that patches it
_INTEGRATIONS: dict[str, str] = {
    "openai": "spanlite.autolog.openai",
    "anthropic": "spanlite.autolog.anthropic",
    "langchain_core": "spanlite.autolog.langchain",  # LangChain and LangGraph (which runs on langchain_core)
    "litellm": "spanlite.autolog.litellm",
    "botocore": "spanlite.autolog.bedrock",  # boto3's bedrock-runtime client, whose classes botocore makes
    "ollama": "spanlite.autolog.ollama",
    "cohere": "spanlite.autolog.cohere",
    "google.genai": "spanlite.autolog.gemini",
    "mistralai.client": "spanlite.autolog.mistral",  # mistralai is a namespace package: its hook would never run
    "groq": "spanlite.autolog.groq",
    "agents": "spanlite.autolog.openai_agents",  # the OpenAI Agents SDK (package openai-agents)
    "pydantic_ai": "spanlite.autolog.pydantic_ai",
    "mcp": "spanlite.autolog.mcp",  # the Model Context Protocol SDK: clients and servers
}
_ALIASES = {
    "langchain": "langchain_core",
    "langgraph": "langchain_core",
    "bedrock": "botocore",
    "boto3": "botocore",
    "aws_bedrock": "botocore",
    **dict.fromkeys(("gemini", "google-genai", "google_genai", "genai"), "google.genai"),
    **dict.fromkeys(("mistralai", "mistral", "mistral_ai"), "mistralai.client"),
    **dict.fromkeys(("openai_agents", "openai-agents"), "agents"),
    **dict.fromkeys(("pydantic-ai", "pydanticai"), "pydantic_ai"),
    "modelcontextprotocol": "mcp",
}  # the names people know them by
# what supported() calls a library whose import name is not the name people use
_NAMES = {
    "langchain_core": "langchain",
    "botocore": "bedrock",
    "google.genai": "gemini",
    "mistralai.client": "mistral",
    "agents": "openai_agents",
}
_wanted: set[str] = set()
_hooked: set[str] = set()
_undo: dict[str, Callable[[], None]] = {}
_lock = threading.RLock()


def supported() -> list[str]:
    """The names ``autolog()`` takes for the libraries it knows (their import names and aliases work too)."""
    return [_NAMES.get(name, name) for name in _INTEGRATIONS]


def import_names() -> list[str]:
    """The modules whose import puts each library's patches on: what ``spanlite run`` watches for."""
    return list(_INTEGRATIONS)


def autolog(*names: str, disable: bool = False) -> None:
    """Record every call of the named LLM libraries as a span; no names means every supported one installed.

    Call it before or after importing the library; calling it again changes nothing. ``disable=True`` takes the
    patches off and restores the original methods. A failure while recording never reaches the caller.

    >>> import spanlite
    >>> spanlite.autolog()                    # doctest: +SKIP
    >>> spanlite.autolog("openai", disable=True)  # doctest: +SKIP
    """
    names = tuple(dict.fromkeys(_ALIASES.get(n, n) for n in names))
    unknown = [n for n in names if n not in _INTEGRATIONS]
    if unknown:
        raise ValueError(f"autolog does not support {', '.join(unknown)}; supported: {', '.join(supported())}")
    chosen = list(names) if names else [n for n in _INTEGRATIONS if _installed(n) or n in _wanted]
    with _lock:
        for name in chosen:
            if disable:
                _wanted.discard(name)
                undo = _undo.pop(name, None)
                if undo is not None:
                    guard(undo)
                continue
            _wanted.add(name)
            if name not in _hooked:
                import wrapt  # not with spanlite: it imports asyncio, a sixth of `import spanlite` without autolog

                _hooked.add(name)
                # Runs now if the library is imported already, else right after its import.
                wrapt.register_post_import_hook(_on_import, name)
            elif name in sys.modules:
                _apply(name)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _on_import(module: ModuleType) -> None:
    with _lock:
        if module.__name__ in _wanted:
            _apply(module.__name__)


def _apply(name: str) -> None:
    if name in _undo:
        return  # already patched: autolog() is idempotent
    integration = guard(importlib.import_module, _INTEGRATIONS[name])
    if integration is None:
        return
    undo = guard(integration.patch)
    if undo is not None:
        _undo[name] = undo
