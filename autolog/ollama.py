"""What to record for the Ollama SDK (``ollama``): ``chat``, ``generate``, ``embed`` and ``embeddings``.

Patched on ``Client`` and ``AsyncClient``, and the module's own functions: ``ollama.chat`` and the rest are methods
bound, at import, to a default client, so patching the class never reaches them; they are patched where they are.
``stream=True`` gives a generator (an async one from ``AsyncClient``) of parts whose last says why it stopped and
how many tokens it took; the span ends with the generator, however it ends.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._patch import Endpoint, Request, install, uninstall

_CLIENT = "ollama._client"  # the submodule: the package's attribute ``_client`` is the default client
# Ollama's options -> the GenAI request attributes
_OPTIONS = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_MAX_TOKENS: "num_predict",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
}
# The methods' positional parameters, after self: callers pass the model and the prompt positionally too.
_POSITIONAL = {
    "chat": ("model", "messages"),
    "generate": ("model", "prompt", "suffix"),
    "embed": ("model", "input", "truncate", "options", "keep_alive", "dimensions"),
    "embeddings": ("model", "prompt", "options", "keep_alive"),
}


def _is_stream(result: Any) -> bool:
    return isinstance(result, (types.GeneratorType, types.AsyncGeneratorType))


def _given(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**dict(zip(_POSITIONAL[method], args)), **kwargs}


def _base(given: dict[str, Any], operation: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: operation,
        attr.GEN_AI_PROVIDER_NAME: "ollama",
        **rec.request_attributes(rec.plain(given.get("options")) or {}, _OPTIONS),
    }
    if rec.given(given.get("model")) and given["model"] != "":
        values[attr.GEN_AI_REQUEST_MODEL] = str(given["model"])
    if rec.given(given.get("format")) and given["format"] != "":
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    return values


def _request(
    given: dict[str, Any], kwargs: dict[str, Any], kind: SpanKind, values: dict[str, Any], content: bool, *keys: str
) -> Request:
    """The call's request; ``keys``: the arguments that are content, left out of its inputs without it."""
    return Request(
        name=rec.span_name(values[attr.GEN_AI_OPERATION_NAME], given.get("model") or None),
        kind=kind,
        attributes=values,
        inputs=rec.inputs(given, keys, content),
        kwargs=kwargs,
        content=content,
    )


# chat -----------------------------------------------------------------------------------------------------------


def _chat_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    given = _given("chat", args, kwargs)
    values = _base(given, "chat")
    if given.get("tools"):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = _tool_definitions(given["tools"])
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = [_message(m) for m in given.get("messages") or []]
    return _request(given, kwargs, SpanKind.CHAT_MODEL, values, content, "messages")


def _tool_definitions(tools: Any) -> list[Any]:
    """Tools in the GenAI convention's flat shape; a Python function is read as the SDK itself reads it."""
    definitions = []
    for tool in tools:
        if callable(tool):
            from ollama._utils import convert_function_to_tool  # the SDK's own reader; if it moves, guard logs it

            tool = convert_function_to_tool(tool).model_dump(exclude_none=True, by_alias=True)
        data = rec.plain(tool)
        function = rec.get(data, "function")
        definitions.append({"type": "function", **function} if isinstance(function, dict) else data)
    return definitions


def _message(message: Any) -> dict[str, Any]:
    """An Ollama message (a dict or the SDK's ``Message``) in the GenAI shape."""
    role, content, thinking, images, tool_calls = rec.fields(
        message, "role", "content", "thinking", "images", "tool_calls"
    )
    parts: list[Any] = []
    if thinking:
        parts.append({"type": "reasoning", "content": thinking})
    if role == "tool":
        part = {"type": "tool_call_response", "id": None, "response": content}
        if rec.field(message, "tool_name"):
            part["name"] = rec.field(message, "tool_name")
        parts.append(part)
    elif content:
        parts.append(rec.text_part(content))
    parts.extend({"type": "blob", "modality": "image"} for _ in images or ())  # the bytes would bloat the store
    for call in tool_calls or ():
        function = rec.field(call, "function")
        arguments = rec.plain(rec.field(function, "arguments"))
        parts.append(rec.tool_call_part(rec.field(call, "id"), rec.field(function, "name"), arguments))
    return {"role": role, "parts": parts}


def _chat_response(request: Request, result: Any) -> dict[str, Any]:
    values = _ending(result)
    if request.content:
        message = {**_message(rec.field(result, "message")), "finish_reason": rec.field(result, "done_reason")}
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [message]
        values[attr.OUTPUTS] = rec.json_text(result)
    return values


def _ending(result: Any) -> dict[str, Any]:
    """What the last part of any answer says: the model, why it stopped, the tokens it counted."""
    model, reason, prompt, output = rec.fields(result, "model", "done_reason", "prompt_eval_count", "eval_count")
    values = rec.response_attributes(response_id=None, model=model, finish_reasons=[reason])
    values.update(rec.usage_attributes(input_tokens=prompt, output_tokens=output))
    return values


class _ChatStream:
    """Folds the parts of a streamed chat into the ``ChatResponse`` shape: texts joined, the last part's counts."""

    def __init__(self, request: Request, stream: Any) -> None:
        self._whole: dict[str, Any] | None = None
        self._message: dict[str, Any] = {"role": "assistant", "content": ""}

    def add(self, part: Any) -> None:
        message = rec.field(part, "message")
        for name in ("content", "thinking"):
            if text := rec.field(message, name):
                self._message[name] = self._message.get(name, "") + text
        if calls := rec.field(message, "tool_calls"):
            self._message.setdefault("tool_calls", []).extend(rec.plain(list(calls)))
        if self._whole is None or rec.field(part, "done"):
            self._whole = {k: v for k, v in rec.plain(part).items() if k != "message"}

    def is_token(self, part: Any) -> bool:
        message = rec.field(part, "message")
        return bool(rec.field(message, "content") or rec.field(message, "thinking") or rec.field(message, "tool_calls"))

    def hide(self, part: Any) -> bool:
        return False

    def result(self) -> dict[str, Any] | None:
        return None if self._whole is None else rec.Plain({**self._whole, "message": self._message})


# generate -------------------------------------------------------------------------------------------------------


def _generate_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    given = _given("generate", args, kwargs)
    values = _base(given, "text_completion")
    if content:
        if rec.given(given.get("system")) and given["system"]:
            values[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = [rec.text_part(given["system"])]
        message = _message({"role": "user", "content": given.get("prompt"), "images": given.get("images")})
        values[attr.GEN_AI_INPUT_MESSAGES] = [message]
    keys = ("prompt", "suffix", "system", "images", "context", "template")
    return _request(given, kwargs, SpanKind.LLM, values, content, *keys)


def _generate_response(request: Request, result: Any) -> dict[str, Any]:
    values = _ending(result)
    if request.content:
        text, thinking, reason = rec.fields(result, "response", "thinking", "done_reason")
        message = _message({"role": "assistant", "content": text, "thinking": thinking})
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [{**message, "finish_reason": reason}]
        # ``context`` is the conversation as token ids, thousands of them: not worth the room
        values[attr.OUTPUTS] = to_json({k: v for k, v in rec.plain(result).items() if k != "context"})
    return values


class _GenerateStream:
    """Folds the parts of a streamed ``generate`` into the ``GenerateResponse`` shape."""

    def __init__(self, request: Request, stream: Any) -> None:
        self._whole: dict[str, Any] | None = None
        self._texts: dict[str, str] = {"response": ""}

    def add(self, part: Any) -> None:
        for name in ("response", "thinking"):
            if text := rec.field(part, name):
                self._texts[name] = self._texts.get(name, "") + text
        if self._whole is None or rec.field(part, "done"):
            self._whole = rec.plain(part)

    def is_token(self, part: Any) -> bool:
        return bool(rec.field(part, "response") or rec.field(part, "thinking"))

    def hide(self, part: Any) -> bool:
        return False

    def result(self) -> dict[str, Any] | None:
        return None if self._whole is None else rec.Plain({**self._whole, **self._texts})


# embed and the older embeddings ---------------------------------------------------------------------------------


def _embed_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    given = _given("embed", args, kwargs)
    return _request(given, kwargs, SpanKind.EMBEDDING, _base(given, "embeddings"), content, "input")


def _embeddings_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    given = _given("embeddings", args, kwargs)
    return _request(given, kwargs, SpanKind.EMBEDDING, _base(given, "embeddings"), content, "prompt")


def _embed_response(request: Request, result: Any) -> dict[str, Any]:
    values = _ending(result)
    if request.content:  # the vectors themselves would only bloat the store: record their shape
        vectors = rec.field(result, "embeddings") or []
        single = rec.field(result, "embedding")
        shape = [{"index": i, "dimensions": len(v)} for i, v in enumerate([single] if single else vectors)]
        values[attr.OUTPUTS] = to_json({"model": rec.field(result, "model"), "data": shape})
    return values


def _endpoints(method: str, request: Any, response: Any, accumulator: Any = None) -> list[Endpoint]:
    how = {"request": request, "response": response, "accumulator": accumulator, "is_stream": _is_stream}
    return [
        Endpoint(_CLIENT, f"Client.{method}", **how),
        Endpoint(_CLIENT, f"AsyncClient.{method}", is_async=True, **how),
        Endpoint("ollama", method, **how),  # the default client's bound method
    ]


ENDPOINTS: list[Endpoint] = [
    *_endpoints("chat", _chat_request, _chat_response, _ChatStream),
    *_endpoints("generate", _generate_request, _generate_response, _GenerateStream),
    *_endpoints("embed", _embed_request, _embed_response),
    *_endpoints("embeddings", _embeddings_request, _embed_response),
]


def patch() -> Callable[[], None]:
    """Patch the installed Ollama SDK; the function returned takes the patches off again."""
    installed = install(ENDPOINTS)
    return lambda: uninstall(installed)
