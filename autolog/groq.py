"""What to record for the Groq SDK, a sibling of OpenAI's: the same chat completions shapes, read by the same readers.

Patched: ``chat.completions.create``, sync and async, streamed or not. Groq sends a stream's usage in ``x_groq.usage``
on its last chunk unasked (its SDK has no ``stream_options``), so the request goes out exactly as the caller made it.
A reasoning model's parsed reasoning (a message's ``reasoning``) is recorded as a GenAI reasoning part.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr

from . import _record as rec
from ._openai_shapes import base_attributes, chat_request, chat_response
from ._openai_stream import ChatStream
from ._patch import Endpoint, Request, install, uninstall

_CHAT = "groq.resources.chat.completions"


@functools.cache
def _stream_types() -> tuple[type, ...]:
    from groq import AsyncStream, Stream

    return (Stream, AsyncStream)


def _is_stream(result: Any) -> bool:
    return isinstance(result, _stream_types())


def _chat_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = base_attributes(instance, kwargs, "chat", ("max_completion_tokens", "max_tokens"))
    values[attr.GEN_AI_PROVIDER_NAME] = "groq"
    return chat_request(values, kwargs, content, rec.inputs(kwargs, ("messages",), content))


def _chat_response(request: Request, result: Any) -> dict[str, Any]:
    values = chat_response(request, result)
    choices = (rec.field(result, "choices") or ()) if request.content else ()
    if any(_reasoning(c) for c in choices):
        # Read again with the reasoning as a GenAI reasoning part; the outputs keep the response as Groq sent it.
        shown = {"choices": [_with_reasoning(c) for c in choices]}
        values[attr.GEN_AI_OUTPUT_MESSAGES] = chat_response(request, shown)[attr.GEN_AI_OUTPUT_MESSAGES]
    return values


def _reasoning(choice: Any) -> str | None:
    """A choice's parsed reasoning (``reasoning_format="parsed"``, and gpt-oss models' default)."""
    reasoning = rec.field(rec.field(choice, "message"), "reasoning")
    return reasoning if isinstance(reasoning, str) and reasoning else None


def _with_reasoning(choice: Any) -> dict[str, Any]:
    message = rec.field(choice, "message")
    content, tool_calls, role = rec.fields(message, "content", "tool_calls", "role")
    parts: list[Any] = [{"type": "reasoning", "content": reasoning}] if (reasoning := _reasoning(choice)) else []
    if isinstance(content, str):
        parts.append({"type": "text", "text": content})
    shown = {"role": role, "content": parts, "tool_calls": tool_calls}
    return {"message": shown, "finish_reason": rec.field(choice, "finish_reason")}


class _GroqStream(ChatStream):
    """Chat completion chunks whose usage comes in ``x_groq``, and whose deltas may carry ``reasoning``."""

    def __init__(self, request: Request, stream: Any) -> None:
        super().__init__(request, stream)
        self._reasoning: dict[int, list[str]] = {}

    def _usage_of(self, chunk: Any) -> Any:
        usage = rec.field(chunk, "usage")
        return usage if usage is not None else rec.field(rec.field(chunk, "x_groq"), "usage")

    def _add_choice(self, choice: Any) -> None:
        piece = rec.field(rec.field(choice, "delta"), "reasoning")
        if isinstance(piece, str) and piece:
            self._reasoning.setdefault(rec.field(choice, "index"), []).append(piece)
        super()._add_choice(choice)

    def result(self) -> dict[str, Any] | None:
        data = super().result()
        for choice in (data or {}).get("choices") or ():
            pieces = self._reasoning.get(choice["index"])
            if pieces:
                choice["message"]["reasoning"] = "".join(pieces)
        return data


ENDPOINTS: list[Endpoint] = [
    Endpoint(_CHAT, "Completions.create", _chat_request, _chat_response, _GroqStream, _is_stream),
    Endpoint(_CHAT, "AsyncCompletions.create", _chat_request, _chat_response, _GroqStream, _is_stream, is_async=True),
]


def patch() -> Callable[[], None]:
    """Patch the installed Groq SDK; the function returned takes the patches off again."""
    installed = install(ENDPOINTS)
    return lambda: uninstall(installed)
