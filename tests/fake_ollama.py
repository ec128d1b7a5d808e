"""A small Ollama-compatible HTTP server on 127.0.0.1 for driving the real ``ollama`` SDK in tests.

Speaks Ollama's REST API: ``/api/chat``, ``/api/generate``, ``/api/embed`` and the older ``/api/embeddings``, streamed
as NDJSON (one JSON object a line, the last with ``done: true`` and the token counts). Deterministic, like
``fake_llm_server``. Magic model names: ``error-404`` / ``error-500`` answer with that HTTP error; ``stream-error``
sends one part of a stream and then an ``{"error": …}`` line. Given tools, a chat calls the first one, unless the last
message is a tool result; with ``think`` it thinks first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from _loopback import LoopbackHandler, LoopbackServer

TEXT_PIECES = ["Hello", " there", "!"]
TEXT = "".join(TEXT_PIECES)
THINKING = "Let me think."
ARGUMENTS = {"city": "Paris"}
CREATED_AT = "2026-01-01T00:00:00Z"
COUNTS = {"prompt_eval_count": 12, "eval_count": 5, "total_duration": 1000, "load_duration": 10}
EMBEDDING = [0.25, -0.5, 1.0]


class FakeOllama(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)


class _Handler(LoopbackHandler):
    server: FakeOllama

    def do_POST(self) -> None:
        body = self.json_body()
        self.server.requests.append((self.path, body))
        model = str(body.get("model", ""))
        if model.startswith("error-"):
            return self._json({"error": f"fake {model}"}, int(model.split("-", 1)[1]))
        stream = body.get("stream", True)  # Ollama streams unless told not to
        if self.path == "/api/chat":
            parts = list(_chat_parts(body))
            return self._ndjson(parts, model == "stream-error") if stream else self._json(_folded(parts, "message"))
        if self.path == "/api/generate":
            parts = list(_generate_parts(body))
            return self._ndjson(parts, model == "stream-error") if stream else self._json(_folded(parts, None))
        if self.path == "/api/embed":
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            embeddings = [EMBEDDING for _ in texts]
            return self._json({"model": model, "embeddings": embeddings, **COUNTS, "eval_count": None})
        if self.path == "/api/embeddings":
            return self._json({"embedding": EMBEDDING})
        self._json({"error": f"no route {self.path}"}, 404)

    def _json(self, data: Any, status: int = 200) -> None:
        payload = json.dumps({k: v for k, v in data.items() if v is not None}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _ndjson(self, parts: list[dict[str, Any]], fail: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for part in parts[:1] if fail else parts:
                self.wfile.write(json.dumps(part).encode() + b"\n")
            if fail:
                self.wfile.write(b'{"error":"fake stream error"}\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading early, as some tests mean it to


def _head(body: dict[str, Any]) -> dict[str, Any]:
    return {"model": body.get("model"), "created_at": CREATED_AT}


def _chat_parts(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The parts of a streamed chat; the last carries the reason it stopped and the token counts."""
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    calls_tool = bool(tools) and (not messages or messages[-1].get("role") != "tool")

    def part(**message: Any) -> dict[str, Any]:
        return {**_head(body), "message": {"role": "assistant", "content": "", **message}, "done": False}

    if body.get("think"):
        yield part(thinking=THINKING)
    if calls_tool:
        yield part(tool_calls=[{"function": {"name": tools[0]["function"]["name"], "arguments": ARGUMENTS}}])
    else:
        for piece in TEXT_PIECES:
            yield part(content=piece)
    yield {**part(), "done": True, "done_reason": "stop", **COUNTS}


def _generate_parts(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for piece in TEXT_PIECES:
        yield {**_head(body), "response": piece, "done": False}
    yield {**_head(body), "response": "", "done": True, "done_reason": "stop", "context": [1, 2, 3], **COUNTS}


def _folded(parts: list[dict[str, Any]], key: str | None) -> dict[str, Any]:
    """What Ollama answers unstreamed: the parts' texts joined, the last part's counts."""
    whole = dict(parts[-1])
    if key is None:
        whole["response"] = "".join(p["response"] for p in parts)
        return whole
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    for part in parts:
        for name, value in part[key].items():
            if name in ("content", "thinking"):
                message[name] = message.get(name, "") + value
            elif name == "tool_calls":
                message[name] = value
    whole[key] = message
    return whole
