"""What to record for Google's ``google-genai`` SDK (the Gemini Developer API and Vertex AI).

Patched: each request to the model, sync and async: ``Models._generate_content`` and ``_generate_content_stream``
(what ``models.generate_content`` / ``generate_content_stream``, their ``aio`` twins and ``chats``' ``send_message`` /
``send_message_stream`` all send through), and ``embed_content``. One span per request, not per public call: with
automatic function calling or automatic continuation one call makes several requests, each billed on its own, and a
chat turn is exactly one of them (its history is the request's contents). Contents read into the GenAI parts shape:
``functionCall`` / ``functionResponse`` parts become ``tool_call`` / ``tool_call_response`` parts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._gemini_stream import ContentStream, dump
from ._patch import Endpoint, Request, install, uninstall

_MODELS = "google.genai.models"
_CONFIG = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_MAX_TOKENS: "max_output_tokens",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop_sequences",
    attr.GEN_AI_REQUEST_CHOICE_COUNT: "candidate_count",
}
_ROLES = {"model": "assistant"}
# Never copied into spanlite.inputs: transport settings may carry headers (credentials).
_SECRET_CONFIG = frozenset({"http_options"})


def _provider(instance: Any) -> str:
    return "gcp.vertex_ai" if getattr(getattr(instance, "_api_client", None), "vertexai", False) else "gcp.gemini"


def _pick(data: Any, snake: str, camel: str) -> Any:
    """A field of an SDK object or of a dict the caller wrote, in either spelling the SDK accepts."""
    value = rec.field(data, snake)
    return rec.field(data, camel) if value is None and isinstance(data, dict) else value


def _data(value: Any) -> Any:
    """JSON-shaped data for an SDK object, a dict or a list of them, without the many fields left ``None``."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True, warnings=False)
    if isinstance(value, (list, tuple)):
        return [_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _data(v) for k, v in value.items() if v is not None}
    return value


def _config(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The fields of the request's config the caller set, SDK object or dict alike."""
    config = kwargs.get("config")
    if config is None:
        return {}
    if isinstance(config, dict):
        return {k: v for k, v in config.items() if v is not None}
    names = getattr(config, "model_fields_set", None) or ()
    return {name: value for name in names if (value := getattr(config, name, None)) is not None}


# contents -> GenAI messages -------------------------------------------------------------------------------------


def _part(part: Any) -> dict[str, Any]:
    """One part as a GenAI part; an SDK ``Part`` is read field by field, not dumped (a chat's history is many)."""
    if isinstance(part, str):
        return rec.text_part(part)
    if not isinstance(part, dict) and not hasattr(part, "model_dump"):
        return {"type": type(part).__name__}  # an image or file object: its kind, not its bytes
    if (text := rec.field(part, "text")) is not None:
        return {"type": "reasoning", "content": text} if rec.field(part, "thought") else rec.text_part(text)
    if (call := _pick(part, "function_call", "functionCall")) is not None:
        return rec.tool_call_part(rec.field(call, "id"), rec.field(call, "name"), _data(rec.field(call, "args")))
    if (response := _pick(part, "function_response", "functionResponse")) is not None:
        return {
            "type": "tool_call_response",
            "id": rec.field(response, "id"),
            "name": rec.field(response, "name"),
            "response": _data(rec.field(response, "response")),
        }
    if (blob := _pick(part, "inline_data", "inlineData")) is not None:
        blob = _data(blob)  # its bytes as base64 text
        return {"type": "blob", "mime_type": _pick(blob, "mime_type", "mimeType"), "content": blob.get("data")}
    if (file := _pick(part, "file_data", "fileData")) is not None:
        return {
            "type": "uri",
            "mime_type": _pick(file, "mime_type", "mimeType"),
            "uri": _pick(file, "file_uri", "fileUri"),
        }
    return {k: v for k, v in _data(part).items() if v is not None}


def _parts(content: Any) -> list[dict[str, Any]]:
    """A ``ContentUnion`` (text, a part, a list of parts, a ``Content``) as GenAI parts."""
    if content is None:
        return []
    parts = rec.field(content, "parts") if not isinstance(content, (str, list)) else content
    return [_part(p) for p in (parts if isinstance(parts, list) else [parts])]


def _is_content(item: Any) -> bool:
    return not isinstance(item, str) and (rec.field(item, "parts") is not None or rec.field(item, "role") is not None)


def _message(role: Any, parts: list[dict[str, Any]]) -> dict[str, Any]:
    if parts and all(p.get("type") == "tool_call_response" for p in parts):
        role = "tool"
    return {"role": _ROLES.get(role, role or "user"), "parts": parts}


def _messages(contents: Any) -> list[dict[str, Any]]:
    """``contents`` as the SDK reads it: ``Content`` items are messages, loose parts between them one user message."""
    items = contents if isinstance(contents, list) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    for item in items:
        if _is_content(item):
            if loose:
                messages.append(_message("user", loose))
                loose = []
            messages.append(_message(rec.field(item, "role"), _parts(item)))
        elif item is not None:
            loose.append(_part(item))
    if loose:
        messages.append(_message("user", loose))
    return messages


def _tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Function declarations (and Python functions, for automatic calling) as GenAI tool definitions; built-in
    tools (search, code execution) as they are."""
    definitions: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else [tools]:
        if callable(tool) and not hasattr(tool, "model_dump"):
            definitions.append(
                {"type": "function", "name": getattr(tool, "__name__", None), "description": tool.__doc__}
            )
            continue
        data = _data(tool)
        declarations = _pick(data, "function_declarations", "functionDeclarations") if isinstance(data, dict) else None
        if declarations:
            for declaration in declarations:
                definitions.append({"type": "function", **{k: v for k, v in declaration.items() if v is not None}})
        elif isinstance(data, dict):
            definitions.append({k: v for k, v in data.items() if v is not None})
    return definitions


# requests ----------------------------------------------------------------------------------------------------------


def _inputs(kwargs: dict[str, Any], config: dict[str, Any], content: bool) -> dict[str, Any]:
    values = rec.inputs(kwargs, ("contents",), content)
    if "contents" in values:
        values["contents"] = _data(values["contents"])
    if config:
        hidden = _SECRET_CONFIG if content else _SECRET_CONFIG | {"system_instruction"}
        values["config"] = {
            k: _tool_definitions(v) if k == "tools" else _data(v) for k, v in config.items() if k not in hidden
        }
    return values


def _base(instance: Any, kwargs: dict[str, Any], operation: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config = _config(kwargs)
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: operation,
        attr.GEN_AI_PROVIDER_NAME: _provider(instance),
        **rec.request_attributes(config, _CONFIG),
    }
    if rec.given(kwargs.get("model")):
        values[attr.GEN_AI_REQUEST_MODEL] = str(kwargs["model"])
    return values, config


def _generate_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values, config = _base(instance, kwargs, "generate_content")
    if config.get("tools"):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = _tool_definitions(config["tools"])
    if (
        config.get("response_schema")
        or config.get("response_json_schema")
        or config.get("response_mime_type") == ("application/json")
    ):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = _messages(kwargs.get("contents"))
        if config.get("system_instruction") is not None:
            values[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = _parts(config["system_instruction"])
    return Request(
        name=rec.span_name("generate_content", kwargs.get("model")),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=_inputs(kwargs, config, content),
        kwargs=kwargs,
        content=content,
    )


def _embed_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values, config = _base(instance, kwargs, "embeddings")
    return Request(
        name=rec.span_name("embeddings", kwargs.get("model")),
        kind=SpanKind.EMBEDDING,
        attributes=values,
        inputs=_inputs(kwargs, config, content),
        kwargs=kwargs,
        content=content,
    )


# responses ---------------------------------------------------------------------------------------------------------


def _usage(usage: dict[str, Any]) -> dict[str, int]:
    """GenAI counts: input includes the cached tokens (Gemini's prompt count does) and tool-use prompts; output is
    the candidates plus the thinking, both billed as output."""

    def total(*keys: str) -> int | None:
        counts = [usage[k] for k in keys if isinstance(usage.get(k), int)]
        return sum(counts) if counts else None

    return rec.usage_attributes(
        input_tokens=total("prompt_token_count", "tool_use_prompt_token_count"),
        output_tokens=total("candidates_token_count", "thoughts_token_count"),
        cache_read=usage.get("cached_content_token_count"),
        reasoning=usage.get("thoughts_token_count"),
    )


def _generate_response(request: Request, result: Any) -> dict[str, Any]:
    data = dump(result)
    if not isinstance(data, dict):
        return {}
    candidates = data.get("candidates") or []
    reasons = [c.get("finish_reason") for c in candidates]
    values = rec.response_attributes(
        response_id=data.get("response_id"), model=data.get("model_version"), finish_reasons=reasons
    )
    values.update(_usage(data.get("usage_metadata") or {}))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [
            {**_message(rec.get(c, "content", "role") or "model", _parts(c.get("content"))), "finish_reason": reason}
            for c, reason in zip(candidates, reasons)
        ]
        values[attr.OUTPUTS] = to_json(data)
    return values


def _embed_response(request: Request, result: Any) -> dict[str, Any]:
    data = dump(result)
    if not isinstance(data, dict):
        return {}
    embeddings = data.get("embeddings") or []
    # Vertex counts tokens per embedding (a float in the SDK's type); the Gemini Developer API does not count them.
    counts = [rec.get(e, "statistics", "token_count") for e in embeddings]
    total = int(sum(counts)) if counts and all(isinstance(c, (int, float)) for c in counts) else None
    values: dict[str, Any] = dict(rec.usage_attributes(input_tokens=total))
    if request.content:  # the vectors themselves would only bloat the store: record their shape
        shapes = [{"index": i, "dimensions": len(e.get("values") or [])} for i, e in enumerate(embeddings)]
        values[attr.OUTPUTS] = to_json({"embeddings": shapes, "metadata": data.get("metadata")})
    return values


def _error(exc: BaseException) -> dict[str, Any]:
    """google-genai's ``APIError`` keeps the HTTP status in ``code``."""
    from google.genai.errors import APIError

    code = exc.code if isinstance(exc, APIError) else None
    return {attr.HTTP_RESPONSE_STATUS_CODE: code} if isinstance(code, int) and code >= 100 else {}


def _endpoints() -> list[Endpoint]:
    generate: dict[str, Any] = {
        "request": _generate_request,
        "response": _generate_response,
        "error": _error,
    }
    stream: dict[str, Any] = {**generate, "accumulator": ContentStream, "is_stream": lambda result: True}
    embed: dict[str, Any] = {"request": _embed_request, "response": _embed_response, "error": _error}
    return [
        Endpoint(_MODELS, "Models._generate_content", **generate),
        Endpoint(_MODELS, "AsyncModels._generate_content", is_async=True, **generate),
        Endpoint(_MODELS, "Models._generate_content_stream", **stream),
        Endpoint(_MODELS, "AsyncModels._generate_content_stream", is_async=True, **stream),
        Endpoint(_MODELS, "Models.embed_content", **embed),
        Endpoint(_MODELS, "AsyncModels.embed_content", is_async=True, **embed),
    ]


def patch() -> Callable[[], None]:
    """Patch the installed google-genai SDK; the function returned takes the patches off again."""
    installed = install(_endpoints())
    return lambda: uninstall(installed)
