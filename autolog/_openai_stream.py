"""Folding OpenAI chat and legacy completion streams into the shape a non-streamed call returns.

``Tap`` stands in for the SDK stream's event decoder. It keeps each event's JSON text, a plain string, so the
chunks the SDK builds from them can die as soon as the caller is done with each: kept until the stream ended, their
objects were walked by every garbage collection meanwhile, a third of what autolog added to each chunk. The text is
folded after the span ends, on the export thread. When we asked for the usage-only chunk ourselves, the tap also
takes it off the wire before the SDK builds a model of it, only for us to hide it. Split from ``openai.py`` to keep
each module small.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from spanlite.tracing._guard import guard, internal_error

from . import _record as rec
from ._patch import Request
from ._record import field

_HEAD = ("id", "model", "created", "system_fingerprint", "service_tier")
_FOLD_EVERY = 1024  # chunks (or their text) kept before folding: bounded memory on long streams, one pass per batch
# How the usage-only chunk's empty choices look on the wire: compact (OpenAI, Azure) or Python's json default.
_NO_CHOICES = ('"choices":[]', '"choices": []')


class ChatStream:
    """Reassembles ``ChatCompletionChunk``s (or their JSON text, from the tap) into the ``ChatCompletion`` shape.

    A chunk costs at most one ``append`` while the caller iterates; chunks are folded in batches (when the span is
    read, or every ``_FOLD_EVERY``), text as lists of pieces joined once, so a long stream is not re-concatenated
    chunk by chunk.
    """

    def __init__(self, request: Request, stream: Any) -> None:
        self._hide_usage = request.hide_usage
        self._pending: list[Any] = []
        self._head: dict[str, Any] = {}
        self._usage: Any = None
        self._choices: dict[int, dict[str, Any]] = {}
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._tapped = Tap.install(stream, self)  # after ``_pending``, which the tap appends to

    def add(self, chunk: Any) -> None:
        if self._tapped:  # the tap kept its text
            return
        pending = self._pending
        pending.append(chunk)
        if len(pending) >= _FOLD_EVERY:
            self._fold()

    def add_usage(self, data: str) -> bool:
        """Keep the usage of a usage-only chunk given as JSON text; ``False`` (and nothing kept) for any other."""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False  # the SDK's to report, as it would without us
        usage = chunk.get("usage") if isinstance(chunk, dict) and chunk.get("choices") == [] else None
        if not isinstance(usage, dict):
            return False
        self._usage = usage
        return True

    def _fold(self) -> None:
        """Fold the kept chunks in: SDK objects or, from the tap, dicts once parsed, read alike by ``field``."""
        pending = self._pending  # emptied in place: the tap appends to this list
        chunks = [c for c in map(_parsed, pending) if c is not None]
        pending.clear()
        if not chunks:
            return
        for key in _HEAD:  # the latest value given wins, as chunk by chunk
            for chunk in reversed(chunks):
                value = field(chunk, key)
                if value is not None:
                    self._head[key] = value
                    break
        for chunk in reversed(chunks):
            usage = self._usage_of(chunk)
            if usage is not None:
                self._usage = usage
                break
        add_choice = self._add_choice
        for chunk in chunks:
            try:  # one odd chunk costs itself only; ``guard`` inlined, as this runs for every chunk
                for choice in field(chunk, "choices") or ():
                    add_choice(choice)
            except Exception:
                internal_error(add_choice)

    def _usage_of(self, chunk: Any) -> Any:
        """A chunk's usage; OpenAI-compatible APIs that carry it elsewhere (Groq) read it there instead."""
        return field(chunk, "usage")

    def _add_choice(self, choice: Any) -> None:
        index = field(choice, "index")
        into = self._choices.get(index)
        if into is None:
            into = self._choices[index] = {"index": index, "message": {"role": "assistant"}, "finish_reason": None}
        message, delta = into["message"], field(choice, "delta")
        if delta is not None:
            role = field(delta, "role")
            if role:
                message["role"] = role
            for key in ("content", "refusal"):
                piece = field(delta, key)
                if piece:
                    message.setdefault(key, []).append(piece)
            for call in field(delta, "tool_calls") or []:
                entry = self._calls.setdefault(index, {}).setdefault(
                    field(call, "index"), {"id": None, "type": "function", "function": {"name": [], "arguments": []}}
                )
                entry["id"] = field(call, "id") or entry["id"]
                function = field(call, "function")
                if function is not None:
                    entry["function"]["name"].append(field(function, "name") or "")
                    entry["function"]["arguments"].append(field(function, "arguments") or "")
        finish_reason = field(choice, "finish_reason")
        if finish_reason:
            into["finish_reason"] = finish_reason

    def is_token(self, chunk: Any) -> bool:
        for choice in getattr(chunk, "choices", None) or ():  # a loop, not any(genexpr): it runs per chunk
            delta = choice.delta
            if delta is not None and (delta.content or delta.tool_calls or getattr(delta, "refusal", None)):
                return True
        return False

    def hide(self, chunk: Any) -> bool:
        if not self._hide_usage:
            return False
        if chunk.usage is not None:
            return not chunk.choices  # the usage-only chunk, when it got past the tap
        # The API sends "usage": null on every chunk once usage is asked for; keep that out of the caller's view.
        fields = getattr(chunk, "__pydantic_fields_set__", None)
        if isinstance(fields, set):
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


class CompletionsStream(ChatStream):
    """Legacy completion chunks carry ``text`` instead of a ``delta``."""

    def _add_choice(self, choice: Any) -> None:
        index = field(choice, "index")
        into = self._choices.get(index)
        if into is None:
            into = self._choices[index] = {"index": index, "text": [], "finish_reason": None}
        into["text"].append(field(choice, "text") or "")
        finish_reason = field(choice, "finish_reason")
        if finish_reason:
            into["finish_reason"] = finish_reason

    def is_token(self, chunk: Any) -> bool:
        return any(c.text for c in getattr(chunk, "choices", None) or [])

    def result(self) -> dict[str, Any] | None:
        data = self._data()
        if data is None:
            return None
        choices = [{**self._choices[i], "text": "".join(self._choices[i]["text"])} for i in sorted(self._choices)]
        data.update({"object": "text_completion", "choices": choices})
        return data


class Tap:
    """Stands in for an SDK stream's server-sent-event decoder: keeps each event's text for the fold, and keeps back
    the usage-only event when we asked for it.

    Every event passes through untouched and in order, but that one. The SDK's stream reads its decoder only once
    the caller starts iterating, so the tap is in place for the whole stream. An SDK without this decoder is left as
    it is: the accumulator then keeps the chunks themselves, and ``ChatStream.hide`` hides a usage-only chunk.
    """

    __slots__ = ("_decoder", "_into")

    def __init__(self, decoder: Any, into: ChatStream) -> None:
        self._decoder = decoder
        self._into = into

    @classmethod
    def install(cls, stream: Any, into: ChatStream) -> bool:
        decoder = getattr(stream, "_decoder", None)
        if hasattr(decoder, "iter_bytes") and hasattr(decoder, "aiter_bytes"):
            stream._decoder = cls(decoder, into)
            return True
        return False

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        for event in self._decoder.iter_bytes(iterator):
            if self._passes(event):
                yield event

    async def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        async for event in self._decoder.aiter_bytes(iterator):
            if self._passes(event):
                yield event

    def _passes(self, event: Any) -> bool:
        """Keep the event's text; ``False`` for the usage-only event we asked for, which is kept back."""
        data = getattr(event, "data", None)
        if not isinstance(data, str):
            return True
        into = self._into
        if into._hide_usage and (_NO_CHOICES[0] in data or _NO_CHOICES[1] in data) and self._take(data):
            return False
        kept = into._pending
        kept.append(data)
        if len(kept) >= _FOLD_EVERY:
            guard(into._fold)
        return True

    def _take(self, data: str) -> bool:
        """Keep back an event with empty choices when it is the usage-only chunk."""
        return bool(guard(self._into.add_usage, data))


def _parsed(kept: Any) -> Any:
    """A kept chunk as ``field`` reads it: the SDK's object as it is, an event's text as a dict; ``None`` for an
    event that is not a chunk (``[DONE]``)."""
    if type(kept) is not str:
        return kept
    try:
        chunk = orjson.loads(kept)
    except orjson.JSONDecodeError:
        return None
    return chunk if isinstance(chunk, dict) else None
