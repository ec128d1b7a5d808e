"""What to record for LiteLLM: ``completion``, ``acompletion`` (streamed or not), ``embedding``, ``aembedding``.

LiteLLM speaks the OpenAI format whatever the provider, so the OpenAI integration's readers serve here too; what is
LiteLLM's own is the provider, taken from LiteLLM's own resolution of the model string (``"openai/gpt-4o-mini"``).
The patched call runs as a model call, so the SDK LiteLLM uses underneath (openai, anthropic) stands aside: one call,
one model span, tokens counted once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_shapes import chat_message, chat_response, tool_definitions, with_usage
from ._openai_stream import ChatStream
from ._patch import Endpoint, Request, install, uninstall

# LiteLLM's provider names -> the GenAI convention's, where they differ.
_PROVIDERS = {
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "xai": "x_ai",
}
_PARAMS = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
    attr.GEN_AI_REQUEST_CHOICE_COUNT: "n",
}
# Never copied into spanlite.inputs: credentials and transport details (rec.inputs drops api_key and headers).
_TRANSPORT = frozenset({"api_base", "base_url", "api_version", "client", "aws_secret_access_key", "vertex_credentials"})


def _resolve(kwargs: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(model, provider)`` as LiteLLM itself routes the call; the model as given when LiteLLM cannot tell."""
    import litellm

    model = kwargs.get("model")
    if not isinstance(model, str):
        return None, None
    try:
        name, provider, _, _ = litellm.get_llm_provider(
            model, custom_llm_provider=kwargs.get("custom_llm_provider"), api_base=kwargs.get("api_base")
        )
    except Exception:  # an unknown provider is LiteLLM's error to raise, at call time, to the caller
        return model, None
    return name, _PROVIDERS.get(provider, provider)


def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The public functions take ``model`` (and ``messages`` / ``input``) positionally too."""
    return {**dict(zip(names, args)), **kwargs}


def _inputs(given: dict[str, Any], content: bool) -> dict[str, Any]:
    return rec.inputs({k: v for k, v in given.items() if k not in _TRANSPORT}, ("messages", "input"), content)


def _base(kwargs: dict[str, Any], operation: str) -> tuple[dict[str, Any], str | None]:
    model, provider = _resolve(kwargs)
    values: dict[str, Any] = {attr.GEN_AI_OPERATION_NAME: operation, **rec.request_attributes(kwargs, _PARAMS)}
    if provider:
        values[attr.GEN_AI_PROVIDER_NAME] = provider
    if model:
        values[attr.GEN_AI_REQUEST_MODEL] = model
    for name in ("max_completion_tokens", "max_tokens"):
        if rec.given(kwargs.get(name)):
            values[attr.GEN_AI_REQUEST_MAX_TOKENS] = kwargs[name]
            break
    return values, model


def _completion_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    given = _arguments(args, kwargs, ("model", "messages"))
    values, model = _base(given, "chat")
    if rec.given(given.get("tools")):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = tool_definitions(given["tools"])
    if rec.given(given.get("response_format")):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = [chat_message(m) for m in rec.plain(given.get("messages")) or []]
    call_kwargs, hide = with_usage(kwargs)
    return Request(
        name=rec.span_name("chat", model),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=_inputs(given, content),
        kwargs=call_kwargs,
        content=content,
        hide_usage=hide,
    )


class _Stream(ChatStream):
    """LiteLLM's chunks have the OpenAI shape, but a chunk without usage has no ``usage`` attribute at all."""

    def hide(self, chunk: Any) -> bool:
        return self._hide_usage and not chunk.choices and getattr(chunk, "usage", None) is not None


def _is_stream(result: Any) -> bool:
    from litellm import CustomStreamWrapper

    return isinstance(result, CustomStreamWrapper)


def _embedding_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    given = _arguments(args, kwargs, ("model", "input"))
    values, model = _base(given, "embeddings")
    if rec.given(given.get("encoding_format")):
        values[attr.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(given["encoding_format"])]
    return Request(
        name=rec.span_name("embeddings", model),
        kind=SpanKind.EMBEDDING,
        attributes=values,
        inputs=_inputs(given, content),
        kwargs=kwargs,
        content=content,
    )


def _embedding_response(request: Request, result: Any) -> dict[str, Any]:
    model = getattr(result, "model", None)
    usage = rec.plain(getattr(result, "usage", None)) or {}
    values = rec.response_attributes(response_id=None, model=model, finish_reasons=[])
    values.update(rec.usage_attributes(input_tokens=usage.get("prompt_tokens")))
    if request.content:  # the vectors would only bloat the store: record their shape
        data = [rec.plain(e) for e in getattr(result, "data", None) or []]
        vectors = [{"index": rec.get(e, "index"), "dimensions": len(rec.get(e, "embedding") or [])} for e in data]
        values[attr.OUTPUTS] = to_json({"model": model, "data": vectors, "usage": usage})
    return values


ENDPOINTS: list[Endpoint] = [
    Endpoint("litellm", "completion", _completion_request, chat_response, _Stream, _is_stream),
    Endpoint("litellm", "acompletion", _completion_request, chat_response, _Stream, _is_stream, is_async=True),
    Endpoint("litellm", "embedding", _embedding_request, _embedding_response),
    Endpoint("litellm", "aembedding", _embedding_request, _embedding_response, is_async=True),
]


def patch() -> Callable[[], None]:
    """Patch LiteLLM's public functions; the function returned takes the patches off again."""
    installed = install(ENDPOINTS)
    return lambda: uninstall(installed)
