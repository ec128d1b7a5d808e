"""What to record for the OpenAI SDK (and AzureOpenAI, which shares its resources).

Patched: ``chat.completions.create`` / ``.parse`` (``.stream()`` calls ``create``), ``responses.create`` / ``.parse``
(``responses.stream()`` calls ``create``), ``embeddings.create`` and legacy ``completions.create``, sync and async.
Messages are recorded in the OTel GenAI shape: ``{"role", "parts": [{"type": "text", "content"}, …]}``.
"""

from __future__ import annotations

from typing import Any, Callable

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_responses import ResponsesStream, responses_request, responses_response
from ._patch import Endpoint, Request, install, uninstall

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"
_COMPLETIONS = "openai.resources.completions"
_SAMPLING = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
    attr.GEN_AI_REQUEST_CHOICE_COUNT: "n",
}


def _provider(instance: Any) -> str:
    client = getattr(instance, "_client", None)
    return "azure.ai.openai" if "Azure" in type(client).__name__ else "openai"


def _base(instance: Any, kwargs: dict[str, Any], operation: str, max_tokens: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {
        attr.GEN_AI_OPERATION_NAME: operation,
        attr.GEN_AI_PROVIDER_NAME: _provider(instance),
        **rec.request_attributes(kwargs, _SAMPLING),
    }
    if rec.given(kwargs.get("model")):
        values[attr.GEN_AI_REQUEST_MODEL] = str(kwargs["model"])
    for name in max_tokens:
        if rec.given(kwargs.get(name)):
            values[attr.GEN_AI_REQUEST_MAX_TOKENS] = kwargs[name]
            break
    return values


def _with_usage(kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Ask a stream for its usage when the caller did not; the extra usage-only item is then ours to hide."""
    if kwargs.get("stream") is not True:
        return kwargs, False
    options = kwargs.get("stream_options")
    if not rec.given(options):
        return {**kwargs, "stream_options": {"include_usage": True}}, True
    if isinstance(options, dict) and "include_usage" not in options:
        return {**kwargs, "stream_options": {**options, "include_usage": True}}, True
    return kwargs, False


def _tool_definitions(tools: Any) -> list[Any]:
    definitions = []
    for tool in rec.plain(tools) or []:
        function = rec.get(tool, "function")
        definitions.append({"type": "function", **function} if isinstance(function, dict) else tool)
    return definitions


def _is_stream(result: Any) -> bool:
    from openai import AsyncStream, Stream

    return isinstance(result, (Stream, AsyncStream))


# chat.completions ------------------------------------------------------------------------------------------------


def _chat_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = _base(instance, kwargs, "chat", ("max_completion_tokens", "max_tokens"))
    if rec.given(kwargs.get("tools")):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = _tool_definitions(kwargs["tools"])
    if rec.given(kwargs.get("response_format")):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = [_chat_message(m) for m in rec.plain(kwargs.get("messages")) or []]
    call_kwargs, hide = _with_usage(kwargs)
    return Request(
        name=rec.span_name("chat", kwargs.get("model")),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=rec.inputs(kwargs, ("messages",), content),
        kwargs=call_kwargs,
        content=content,
        hide_usage=hide,
    )


def _chat_message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        parts: list[Any] = [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}]
    else:
        parts = _content_parts(content)
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(rec.tool_call_part(call.get("id"), function.get("name"), function.get("arguments")))
    result = {"role": role, "parts": parts}
    if message.get("name"):
        result["name"] = message["name"]
    return result


def _content_parts(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [rec.text_part(content)]
    parts = []
    for part in content if isinstance(content, list) else [content]:
        text = rec.get(part, "text")
        parts.append(rec.text_part(text) if isinstance(text, str) else part)
    return parts


def _chat_response(request: Request, result: Any) -> dict[str, Any]:
    data = rec.plain(result)
    if not isinstance(data, dict):
        return {}
    choices = data.get("choices") or []
    values = rec.response_attributes(
        response_id=data.get("id"),
        model=data.get("model"),
        finish_reasons=[c.get("finish_reason") for c in choices],
    )
    values.update(_usage(data.get("usage")))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [_chat_output(c) for c in choices]
        values[attr.OUTPUTS] = to_json(data)
    return values


def _usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    return rec.usage_attributes(
        input_tokens=usage.get("prompt_tokens", usage.get("input_tokens")),
        output_tokens=usage.get("completion_tokens", usage.get("output_tokens")),
        cache_read=rec.get(usage, "prompt_tokens_details", "cached_tokens")
        or rec.get(usage, "input_tokens_details", "cached_tokens"),
        reasoning=rec.get(usage, "completion_tokens_details", "reasoning_tokens")
        or rec.get(usage, "output_tokens_details", "reasoning_tokens"),
    )


def _chat_output(choice: dict[str, Any]) -> dict[str, Any]:
    message = choice.get("message") or {}
    parts = _content_parts(message.get("content"))
    if message.get("refusal"):
        parts.append({"type": "refusal", "content": message["refusal"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(rec.tool_call_part(call.get("id"), function.get("name"), function.get("arguments")))
    return {"role": message.get("role") or "assistant", "parts": parts, "finish_reason": choice.get("finish_reason")}


_HEAD = ("id", "model", "created", "system_fingerprint", "service_tier")
_FOLD_EVERY = 256  # chunks kept before folding: bounded memory on long streams, one pass per batch


class _ChatStream:
    """Reassembles ``ChatCompletionChunk``s into the ``ChatCompletion`` shape.

    A chunk costs one ``append`` while the caller iterates; chunks are folded in batches (at the end, or every
    ``_FOLD_EVERY``), text as lists of pieces joined once, so a long stream is not re-concatenated chunk by chunk.
    """

    def __init__(self, request: Request) -> None:
        self._hide_usage = request.hide_usage
        self._pending: list[Any] = []
        self._head: dict[str, Any] = {}
        self._usage: Any = None
        self._choices: dict[int, dict[str, Any]] = {}
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}

    def add(self, chunk: Any) -> None:
        pending = self._pending
        pending.append(chunk)
        if len(pending) >= _FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        for key in _HEAD:  # the latest value given wins, as chunk by chunk
            for chunk in reversed(pending):
                value = getattr(chunk, key, None)
                if value is not None:
                    self._head[key] = value
                    break
        for chunk in reversed(pending):
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self._usage = usage
                break
        for chunk in pending:
            guard(self._add_chunk, chunk)  # one odd chunk costs itself only

    def _add_chunk(self, chunk: Any) -> None:
        for choice in getattr(chunk, "choices", None) or []:
            self._add_choice(choice)

    def _add_choice(self, choice: Any) -> None:
        into = self._choices.get(choice.index)
        if into is None:
            into = self._choices[choice.index] = {
                "index": choice.index,
                "message": {"role": "assistant"},
                "finish_reason": None,
            }
        message, delta = into["message"], choice.delta
        if delta is not None:
            if delta.role:
                message["role"] = delta.role
            for key in ("content", "refusal"):
                piece = getattr(delta, key, None)
                if piece:
                    message.setdefault(key, []).append(piece)
            for call in delta.tool_calls or []:
                entry = self._calls.setdefault(choice.index, {}).setdefault(
                    call.index, {"id": None, "type": "function", "function": {"name": [], "arguments": []}}
                )
                entry["id"] = call.id or entry["id"]
                if call.function is not None:
                    entry["function"]["name"].append(call.function.name or "")
                    entry["function"]["arguments"].append(call.function.arguments or "")
        if choice.finish_reason:
            into["finish_reason"] = choice.finish_reason

    def is_token(self, chunk: Any) -> bool:
        return any(
            c.delta is not None and (c.delta.content or c.delta.tool_calls or getattr(c.delta, "refusal", None))
            for c in getattr(chunk, "choices", None) or []
        )

    def hide(self, chunk: Any) -> bool:
        if not self._hide_usage:
            return False
        if not chunk.choices and chunk.usage is not None:
            return True
        # The API sends "usage": null on every chunk once usage is asked for; keep that out of the caller's view.
        fields = getattr(chunk, "__pydantic_fields_set__", None)
        if chunk.usage is None and isinstance(fields, set):
            fields.discard("usage")
        return False

    def _data(self) -> rec.Plain | None:
        self._fold()
        if not self._head and self._usage is None and not self._choices:
            return None
        data = rec.Plain(self._head)
        if self._usage is not None:
            data["usage"] = rec.plain(self._usage)
        return data

    def result(self) -> dict[str, Any] | None:
        data = self._data()
        if data is None:
            return None
        choices = []
        for index in sorted(self._choices):
            into = self._choices[index]
            message = {k: "".join(v) if isinstance(v, list) else v for k, v in into["message"].items()}
            calls = self._calls.get(index)
            if calls:
                message["tool_calls"] = [_joined_call(calls[i]) for i in sorted(calls)]
            choices.append({**into, "message": message})
        data.update({"object": "chat.completion", "choices": choices})
        return data


def _joined_call(entry: dict[str, Any]) -> dict[str, Any]:
    function = entry["function"]
    joined = {"name": "".join(function["name"]), "arguments": "".join(function["arguments"])}
    return {**entry, "function": joined}


# embeddings and legacy completions ------------------------------------------------------------------------------


def _embeddings_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = _base(instance, kwargs, "embeddings", ())
    if rec.given(kwargs.get("encoding_format")):
        values[attr.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(kwargs["encoding_format"])]
    return Request(
        name=rec.span_name("embeddings", kwargs.get("model")),
        kind=SpanKind.EMBEDDING,
        attributes=values,
        inputs=rec.inputs(kwargs, ("input",), content),
        kwargs=kwargs,
        content=content,
    )


def _embeddings_response(request: Request, result: Any) -> dict[str, Any]:
    model = getattr(result, "model", None)
    usage = getattr(result, "usage", None)
    values = rec.response_attributes(response_id=None, model=model, finish_reasons=[])
    values.update(rec.usage_attributes(input_tokens=getattr(usage, "prompt_tokens", None)))
    if request.content:  # the vectors themselves would only bloat the store: record their shape
        vectors = [{"index": e.index, "dimensions": len(e.embedding)} for e in getattr(result, "data", None) or []]
        values[attr.OUTPUTS] = to_json({"model": model, "data": vectors, "usage": usage})
    return values


def _completions_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = _base(instance, kwargs, "text_completion", ("max_tokens",))
    if content:
        prompt = kwargs.get("prompt")
        prompts = prompt if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt) else [prompt]
        values[attr.GEN_AI_INPUT_MESSAGES] = [{"role": "user", "parts": [rec.text_part(p)]} for p in prompts]
    call_kwargs, hide = _with_usage(kwargs)
    return Request(
        name=rec.span_name("text_completion", kwargs.get("model")),
        kind=SpanKind.LLM,
        attributes=values,
        inputs=rec.inputs(kwargs, ("prompt", "suffix"), content),
        kwargs=call_kwargs,
        content=content,
        hide_usage=hide,
    )


def _completions_response(request: Request, result: Any) -> dict[str, Any]:
    data = rec.plain(result)
    if not isinstance(data, dict):
        return {}
    choices = data.get("choices") or []
    reasons = [c.get("finish_reason") for c in choices]
    values = rec.response_attributes(response_id=data.get("id"), model=data.get("model"), finish_reasons=reasons)
    values.update(_usage(data.get("usage")))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [
            {"role": "assistant", "parts": [rec.text_part(c.get("text"))], "finish_reason": c.get("finish_reason")}
            for c in choices
        ]
        values[attr.OUTPUTS] = to_json(data)
    return values


class _CompletionsStream(_ChatStream):
    """Legacy completion chunks carry ``text`` instead of a ``delta``."""

    def _add_choice(self, choice: Any) -> None:
        into = self._choices.get(choice.index)
        if into is None:
            into = self._choices[choice.index] = {"index": choice.index, "text": [], "finish_reason": None}
        into["text"].append(choice.text or "")
        if choice.finish_reason:
            into["finish_reason"] = choice.finish_reason

    def is_token(self, chunk: Any) -> bool:
        return any(c.text for c in getattr(chunk, "choices", None) or [])

    def result(self) -> dict[str, Any] | None:
        data = self._data()
        if data is None:
            return None
        choices = [{**self._choices[i], "text": "".join(self._choices[i]["text"])} for i in sorted(self._choices)]
        data.update({"object": "text_completion", "choices": choices})
        return data


def _endpoints(module: str, names: tuple[str, str], methods: tuple[str, ...], **how: Any) -> list[Endpoint]:
    sync, async_ = names
    found = []
    for method in methods:
        found.append(Endpoint(module, f"{sync}.{method}", is_stream=_is_stream, **how))
        found.append(Endpoint(module, f"{async_}.{method}", is_stream=_is_stream, is_async=True, **how))
    return found


ENDPOINTS: list[Endpoint] = [
    *_endpoints(
        _CHAT,
        ("Completions", "AsyncCompletions"),
        ("create", "parse"),
        request=_chat_request,
        response=_chat_response,
        accumulator=_ChatStream,
    ),
    *_endpoints(
        _RESPONSES,
        ("Responses", "AsyncResponses"),
        ("create", "parse"),
        request=responses_request,
        response=responses_response,
        accumulator=ResponsesStream,
    ),
    *_endpoints(
        _EMBEDDINGS,
        ("Embeddings", "AsyncEmbeddings"),
        ("create",),
        request=_embeddings_request,
        response=_embeddings_response,
    ),
    *_endpoints(
        _COMPLETIONS,
        ("Completions", "AsyncCompletions"),
        ("create",),
        request=_completions_request,
        response=_completions_response,
        accumulator=_CompletionsStream,
    ),
]


def patch() -> Callable[[], None]:
    """Patch the installed OpenAI SDK; the function returned takes the patches off again."""
    installed = install(ENDPOINTS)
    return lambda: uninstall(installed)
