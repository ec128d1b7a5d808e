"""A Mistral- and Groq-compatible HTTP server on 127.0.0.1 for driving the real ``mistralai`` and ``groq`` SDKs.

Both speak chat completions in OpenAI's shape over SSE (``data: {...}`` events ending with ``data: [DONE]``); they
differ where their SDKs look: Groq (``/openai/v1/chat/completions``) sends a stream's usage in ``x_groq.usage`` on
its last chunk, Mistral (``/v1/chat/completions``, ``/v1/embeddings``) in ``usage`` on the chunk that finishes, and
streams whole tool calls rather than argument fragments. Deterministic bytes; magic model names: ``error-429`` /
``error-500`` answer with that HTTP error, ``stream-error`` sends one chunk of a stream and then an error.
Given tools, a chat calls the first; once the last message is a tool result it answers in text (in JSON when asked
for a JSON schema). A Mistral ``magistral-*`` model thinks first: its content is a list of chunks, thinking and text;
Groq asked for ``reasoning_format="parsed"`` sends its reasoning in the message's ``reasoning``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from _loopback import LoopbackHandler, LoopbackServer
from fake_llm_server import ARGUMENTS, CREATED, EMBEDDING, JSON_ANSWER, TEXT, TEXT_PIECES

USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 2},
}
GROQ_PATH = "/openai/v1/chat/completions"
REASONING = "Let me think."
THINKING = {"type": "thinking", "thinking": [{"type": "text", "text": REASONING}]}


class FakeOpenAILikeServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)


class _Handler(LoopbackHandler):
    server: FakeOpenAILikeServer

    def do_POST(self) -> None:
        body = self.json_body()
        path = self.path.split("?")[0]
        self.server.requests.append((path, body))
        model = str(body.get("model", ""))
        if model.startswith("error-"):
            return self._error(int(model.split("-", 1)[1]))
        groq = path == GROQ_PATH
        if path in (GROQ_PATH, "/v1/chat/completions"):
            if body.get("stream"):
                return self._sse(_chunks(body, groq))
            return self._json(_completion(body, groq))
        if path == "/v1/embeddings":
            return self._json(_embeddings(body))
        self._json({"error": {"message": f"no route {self.path}"}}, status=404)

    def _json(self, data: Any, status: int = 200) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int) -> None:
        self._json({"error": {"message": f"fake {status}", "type": "fake_error", "code": str(status)}}, status)

    def _sse(self, events: Iterator[Any]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for data in events:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading early, as some tests mean it to


def _tool_name(body: dict[str, Any]) -> str | None:
    messages = body.get("messages") or []
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        return None  # the tool has answered: time for the model to answer too
    tools = body.get("tools") or []
    return tools[0]["function"]["name"] if tools else None


def _tool_calls(name: str) -> list[dict[str, Any]]:
    return [{"id": "call_0", "type": "function", "function": {"name": name, "arguments": ARGUMENTS}, "index": 0}]


def _thinks(body: dict[str, Any], groq: bool) -> bool:
    return not groq and str(body["model"]).startswith("magistral")


def _reasons(body: dict[str, Any], groq: bool) -> bool:
    return groq and body.get("reasoning_format") == "parsed"


def _head(body: dict[str, Any], obj: str) -> dict[str, Any]:
    return {"id": "cmpl-1", "object": obj, "created": CREATED, "model": f"{body['model']}-2024"}


def _completion(body: dict[str, Any], groq: bool) -> dict[str, Any]:
    tool = _tool_name(body)
    schema = (body.get("response_format") or {}).get("type") == "json_schema"
    message: dict[str, Any] = {"role": "assistant", "content": "" if tool else JSON_ANSWER if schema else TEXT}
    if tool:
        message["tool_calls"] = _tool_calls(tool)
    elif _thinks(body, groq):
        message["content"] = [THINKING, {"type": "text", "text": TEXT}]
    elif _reasons(body, groq):
        message["reasoning"] = REASONING
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
    extra = {"x_groq": {"id": "req_1"}} if groq else {}
    return {**_head(body, "chat.completion"), "choices": [choice], "usage": USAGE, **extra}


def _chunks(body: dict[str, Any], groq: bool) -> Iterator[dict[str, Any]]:
    head = _head(body, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

    yield chunk({"role": "assistant", "content": ""}, **({"x_groq": {"id": "req_1"}} if groq else {}))
    if body["model"] == "stream-error":
        yield {"error": {"message": "boom mid-stream", "type": "server_error"}}
        return
    tool = _tool_name(body)
    if tool and groq:  # OpenAI's way: the call first, then its arguments in pieces
        call = {"index": 0, "id": "call_0", "type": "function", "function": {"name": tool, "arguments": ""}}
        yield chunk({"tool_calls": [call]})
        for piece in (ARGUMENTS[:8], ARGUMENTS[8:]):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    elif tool:  # Mistral's: whole calls in one delta
        yield chunk({"content": "", "tool_calls": _tool_calls(tool)})
    else:
        if _thinks(body, groq):
            yield chunk({"content": [THINKING]})
        elif _reasons(body, groq):
            for piece in (REASONING[:6], REASONING[6:]):
                yield chunk({"reasoning": piece})
        for piece in TEXT_PIECES:
            yield chunk({"content": piece})
    finish = "tool_calls" if tool else "stop"
    if groq:
        yield chunk({}, finish, x_groq={"id": "req_1", "usage": USAGE})
    else:
        yield chunk({"content": ""}, finish, usage=USAGE)


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [{"object": "embedding", "index": i, "embedding": EMBEDDING} for i in range(len(inputs))]
    usage = {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}
    return {"id": "emb-1", "object": "list", "data": data, "model": body["model"], "usage": usage}
