"""google-genai's streamed responses folded into one, as ``models.generate_content`` would have returned it."""

from __future__ import annotations

from typing import Any

from . import _record as rec
from ._patch import Request


def dump(result: Any) -> Any:
    """A response as JSON-shaped data, without the fields it does not have and without its HTTP headers."""
    if isinstance(result, rec.Plain) or not hasattr(result, "model_dump"):
        return result
    return result.model_dump(mode="json", exclude_none=True, exclude={"sdk_http_response"}, warnings=False)


class ContentStream:
    """Folds streamed ``GenerateContentResponse`` chunks into one response: text pieces joined per candidate.

    The chunks are only kept while the stream runs and folded in ``result()``, which runs after the span ends, on the
    export thread where it can: reading a chunk costs more than the caller should wait for between chunks.
    """

    def __init__(self, request: Request, stream: Any) -> None:
        self._chunks: list[Any] = []

    def add(self, chunk: Any) -> None:
        self._chunks.append(chunk)

    def result(self) -> rec.Plain:
        response = rec.Plain()
        candidates: dict[int, dict[str, Any]] = {}
        for data in map(dump, self._chunks):
            if not isinstance(data, dict):
                continue
            for key in ("response_id", "model_version", "usage_metadata", "create_time"):
                if data.get(key) is not None:
                    response[key] = data[key]
            for position, candidate in enumerate(data.get("candidates") or []):
                index = candidate.get("index", position)
                merged = candidates.setdefault(index, {"index": index, "content": {"role": "model", "parts": []}})
                merged.update((k, v) for k, v in candidate.items() if k != "content")
                self._merge(merged["content"]["parts"], rec.get(candidate, "content", "parts") or [])
        if candidates:
            response["candidates"] = [candidates[i] for i in sorted(candidates)]
        return response

    @staticmethod
    def _merge(parts: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        for part in new:
            last = parts[-1] if parts else None
            if (
                last is not None
                and isinstance(part.get("text"), str)
                and isinstance(last.get("text"), str)
                and bool(part.get("thought")) == bool(last.get("thought"))
            ):
                last["text"] += part["text"]
            else:
                parts.append(dict(part))

    def is_token(self, chunk: Any) -> bool:
        return any(
            part.text or part.function_call
            for candidate in chunk.candidates or []
            if candidate.content is not None
            for part in candidate.content.parts or []
        )

    def hide(self, chunk: Any) -> bool:
        return False
