"""What to record for OpenAI's Responses API (``responses.create`` / ``.parse`` / ``.stream()``).

Split from ``openai.py`` to keep each module small; the readers it shares with chat completions live in
``_openai_shapes.py``.
"""

from __future__ import annotations

from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._openai_shapes import base_attributes, content_parts, token_counts
from ._patch import Request

# -------------------------------------------------------------------------------------------------------


def responses_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    values = base_attributes(instance, kwargs, "chat", ("max_output_tokens",))
    if rec.given(kwargs.get("tools")):
        values[attr.GEN_AI_TOOL_DEFINITIONS] = rec.plain(kwargs["tools"])
    if rec.given(kwargs.get("text_format")) or rec.get(kwargs.get("text"), "format", "type") in ("json_schema",):
        values[attr.GEN_AI_OUTPUT_TYPE] = "json"
    conversation = kwargs.get("conversation")
    conversation_id = conversation if isinstance(conversation, str) else rec.get(conversation, "id")
    if isinstance(conversation_id, str):
        values[attr.GEN_AI_CONVERSATION_ID] = conversation_id
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = _responses_input(rec.plain(kwargs.get("input")))
        if rec.given(kwargs.get("instructions")):
            values[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = [rec.text_part(kwargs["instructions"])]
    return Request(
        name=rec.span_name("chat", kwargs.get("model")),
        kind=SpanKind.CHAT_MODEL,
        attributes=values,
        inputs=rec.inputs(kwargs, ("input", "instructions"), content),
        kwargs=kwargs,
        content=content,
    )


def _responses_input(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "parts": [rec.text_part(value)]}]
    messages = []
    for item in value if isinstance(value, list) else [value]:
        kind = rec.get(item, "type")
        if kind == "function_call":
            part = rec.tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments"))
            messages.append({"role": "assistant", "parts": [part]})
        elif kind == "function_call_output":
            part = {"type": "tool_call_response", "id": item.get("call_id"), "response": item.get("output")}
            messages.append({"role": "tool", "parts": [part]})
        elif isinstance(item, dict) and "role" in item:
            messages.append({"role": item["role"], "parts": content_parts(item.get("content"))})
        else:
            messages.append({"role": "user", "parts": [item]})
    return messages


def responses_response(request: Request, result: Any) -> dict[str, Any]:
    data = rec.plain(result)
    if not isinstance(data, dict):
        return {}
    output = data.get("output") or []
    finish = _responses_finish(data, output)
    values = rec.response_attributes(response_id=data.get("id"), model=data.get("model"), finish_reasons=[finish])
    values.update(token_counts(data.get("usage")))
    if request.content:
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [_responses_output(output, finish)]
        values[attr.OUTPUTS] = to_json(data)
    return values


def _responses_finish(data: dict[str, Any], output: list[Any]) -> str | None:
    status = data.get("status")
    if status == "completed":
        return "tool_call" if any(rec.get(item, "type") == "function_call" for item in output) else "stop"
    if status == "incomplete":
        return rec.get(data, "incomplete_details", "reason") or "incomplete"
    return status


def _responses_output(output: list[Any], finish: str | None) -> dict[str, Any]:
    parts: list[Any] = []
    for item in output:
        kind = rec.get(item, "type")
        if kind == "message":
            for piece in item.get("content") or []:
                if piece.get("type") == "output_text":
                    parts.append(rec.text_part(piece.get("text")))
                elif piece.get("type") == "refusal":
                    parts.append({"type": "refusal", "content": piece.get("refusal")})
                else:
                    parts.append(piece)
        elif kind == "function_call":
            parts.append(rec.tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments")))
        elif kind == "reasoning":
            summary = " ".join(s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict))
            parts.append({"type": "reasoning", "content": summary})
        else:
            parts.append(item)
    return {"role": "assistant", "parts": parts, "finish_reason": finish}


class ResponsesStream:
    """Keeps the latest ``response`` snapshot an event carried, plus the text deltas for a stream cut short."""

    _SNAPSHOTS = ("response.created", "response.in_progress", "response.completed", "response.incomplete")

    def __init__(self, request: Request, stream: Any) -> None:
        self._response: Any = None
        self._text: list[str] = []
        self._final = False

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind in self._SNAPSHOTS or kind == "response.failed":
            self._response = event.response
            self._final = kind not in ("response.created", "response.in_progress")
        elif kind == "response.output_text.delta":
            self._text.append(event.delta)

    def is_token(self, event: Any) -> bool:
        return str(getattr(event, "type", "")).endswith(".delta")

    def hide(self, event: Any) -> bool:
        return False

    def result(self) -> dict[str, Any] | None:
        data = rec.plain(self._response)
        if not isinstance(data, dict):
            return None
        if not self._final and self._text and not data.get("output"):
            text = {"type": "output_text", "text": "".join(self._text)}
            data["output"] = [{"type": "message", "role": "assistant", "content": [text]}]
        return data
