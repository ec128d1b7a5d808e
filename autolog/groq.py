"""What to record for the Groq SDK, a sibling of OpenAI's: the same chat completions shapes, read by the same readers.

Patched: ``chat.completions.create``, sync and async, streamed or not. Groq sends a stream's usage in ``x_groq.usage``
on its last chunk unasked (its SDK has no ``stream_options``), so the request goes out exactly as the caller made it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_shapes import base_attributes, chat_messages, chat_response, tool_definitions
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
    tools, response_format = kwargs.get("tools"), kwargs.get("response_format")
    if rec.given(tools):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = tool_definitions(tools)
    if rec.given(response_format):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = to_json(chat_messages(kwargs.get("messages")))
    return Request(
        name=rec.span_name("chat", kwargs.get("model")),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=rec.inputs(kwargs, ("messages",), content),
        kwargs=kwargs,
        content=content,
    )


class _GroqStream(ChatStream):
    """Chat completion chunks whose usage comes in ``x_groq``."""

    def _usage_of(self, chunk: Any) -> Any:
        usage = rec.field(chunk, "usage")
        return usage if usage is not None else rec.field(rec.field(chunk, "x_groq"), "usage")


ENDPOINTS: list[Endpoint] = [
    Endpoint(_CHAT, "Completions.create", _chat_request, chat_response, _GroqStream, _is_stream),
    Endpoint(_CHAT, "AsyncCompletions.create", _chat_request, chat_response, _GroqStream, _is_stream, is_async=True),
]


def patch() -> Callable[[], None]:
    """Patch the installed Groq SDK; the function returned takes the patches off again."""
    installed = install(ENDPOINTS)
    return lambda: uninstall(installed)
