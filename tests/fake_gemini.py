"""A small Gemini API server on 127.0.0.1 for driving the real ``google-genai`` SDK in tests.

It answers both the Gemini Developer API paths (``/v1beta/models/{model}:generateContent``) and Vertex AI's
(``/v1beta1/publishers/google/models/{model}:…``, what the SDK sends in Vertex express mode with an API key).
Deterministic: the same request always gets the same bytes back. Magic model names: ``error-429`` / ``error-500``
answer with that HTTP error; ``stream-error`` sends one chunk of a stream and then an error event. Given function
declarations, the model calls the first one; once the last message carries a function response it answers in text,
so a tool-calling loop over the fake ends after one round. Requests are kept in ``server.requests``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from _loopback import LoopbackHandler, LoopbackServer
from fake_llm_server import EMBEDDING, TEXT_PIECES

TOOL_ANSWER = "It is sunny in Paris."
THOUGHT = "Let me think."
ARGS = {"city": "Paris"}
# promptTokenCount includes the cached tokens; thoughts are billed as output beside the candidates.
USAGE = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 5,
    "cachedContentTokenCount": 3,
    "thoughtsTokenCount": 2,
    "totalTokenCount": 19,
}
_STATUS = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


class FakeGeminiServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)


class _Handler(LoopbackHandler):
    server: FakeGeminiServer

    def do_POST(self) -> None:
        body = self.json_body()
        self.server.requests.append((self.path, body))
        target = self.path.split("?")[0].rsplit("/models/", 1)[-1]
        model, _, method = target.partition(":")
        if model.startswith("error-"):
            return self._error(int(model.split("-", 1)[1]))
        if method == "generateContent":
            return self._json(_response(model, body, _answer(body)))
        if method == "streamGenerateContent":
            return self._sse(_chunks(model, body))
        if method == "batchEmbedContents":
            return self._json({"embeddings": [{"values": EMBEDDING} for _ in body.get("requests", [])]})
        if method == "predict":  # Vertex AI's text embedding models
            embedding = {"values": EMBEDDING, "statistics": {"token_count": 2, "truncated": False}}
            predictions = [{"embeddings": embedding} for _ in body.get("instances", [])]
            return self._json({"predictions": predictions, "metadata": {"billableCharacterCount": 2}})
        if method == "embedContent":
            return self._json({"embedding": {"values": EMBEDDING}})
        self._json({"error": {"code": 404, "message": f"no route {self.path}", "status": "NOT_FOUND"}}, 404)

    def _json(self, data: Any, status: int = 200) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int) -> None:
        self._json({"error": {"code": status, "message": f"fake {status}", "status": _STATUS.get(status, "")}}, status)

    def _sse(self, chunks: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading early, as some tests mean it to


def _declared(body: dict[str, Any]) -> list[str]:
    return [d["name"] for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]


def _answer(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's parts: a function call when tools are declared and none has been answered yet, else text."""
    last = (body.get("contents") or [{}])[-1]
    answered = any("functionResponse" in part for part in last.get("parts") or [])
    names = _declared(body)
    thinking_config = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
    # The SDK sends a config given as a dict as it is: JSON names in either spelling, as the API accepts.
    thinking = thinking_config.get("includeThoughts") or thinking_config.get("include_thoughts")
    parts: list[dict[str, Any]] = [{"text": THOUGHT, "thought": True}] if thinking else []
    if names and not answered:
        return [*parts, {"functionCall": {"name": names[0], "args": ARGS}}]
    return [*parts, {"text": TOOL_ANSWER if answered else "".join(TEXT_PIECES)}]


def _response(model: str, body: dict[str, Any], parts: list[dict[str, Any]], last: bool = True) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    data: dict[str, Any] = {"candidates": [candidate], "modelVersion": f"{model}-001", "responseId": "resp_1"}
    if last:
        candidate["finishReason"] = "STOP"
        data["usageMetadata"] = USAGE
    return data


def _chunks(model: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The answer's parts one per chunk, text split in pieces; the last chunk carries the finish reason and usage."""
    parts = _answer(body)
    pieces: list[dict[str, Any]] = []
    for part in parts:
        if part.get("text") and not part.get("thought") and part["text"] == "".join(TEXT_PIECES):
            pieces.extend({"text": piece} for piece in TEXT_PIECES)
        else:
            pieces.append(part)
    for i, piece in enumerate(pieces):
        yield _response(model, body, [piece], last=i == len(pieces) - 1)
        if model == "stream-error":
            yield {"error": {"code": 500, "message": "fake stream error", "status": "INTERNAL"}}
            return
