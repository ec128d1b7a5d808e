"""A small server speaking Cohere's v2 REST API on 127.0.0.1, for driving the real ``cohere`` SDK in tests.

``/v2/chat`` (with ``stream: true``: SSE events ``message-start``, ``content-start/delta/end``, ``tool-plan-delta``,
``tool-call-start/delta/end``, ``message-end`` with the usage), ``/v2/embed`` and ``/v2/rerank``. Deterministic, like
``fake_llm_server``. Magic model names: ``error-400`` / ``error-404`` / ``error-422`` answer with that HTTP error
(statuses the SDK does not retry); ``stream-error`` sends the first events of a stream and then breaks the body off.
Given tools, a chat plans and calls the first one, unless the last message is a tool result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from _loopback import LoopbackHandler, LoopbackServer

TEXT_PIECES = ["Hello", " there", "!"]
TEXT = "".join(TEXT_PIECES)
THINKING = "Let me think."
TOOL_PLAN = "I will look up the weather."
ARGUMENTS = '{"city": "Paris"}'
USAGE = {
    "billed_units": {"input_tokens": 12, "output_tokens": 5},
    "tokens": {"input_tokens": 80, "output_tokens": 9},  # with the prompt template Cohere wraps around a request
    "cached_tokens": 2,
}
EMBEDDING = [0.25, -0.5, 1.0]


class FakeCohere(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)


class _Handler(LoopbackHandler):
    server: FakeCohere

    def date_time_string(self, timestamp: float | None = None) -> str:
        return "Thu, 01 Jan 2026 00:00:00 GMT"  # the SDK's errors print the headers: the same bytes every time

    def do_POST(self) -> None:
        body = self.json_body()
        self.server.requests.append((self.path, body))
        model = str(body.get("model", ""))
        if model.startswith("error-"):
            return self._json({"message": f"fake {model}"}, int(model.split("-", 1)[1]))
        if self.path == "/v2/chat":
            if body.get("stream"):
                return self._sse(_chat_events(body), model == "stream-error")
            return self._json(_chat(body))
        if self.path == "/v2/embed":
            return self._json(_embed(body))
        if self.path == "/v2/rerank":
            return self._json(_rerank(body))
        self._json({"message": f"no route {self.path}"}, 404)

    def _json(self, data: Any, status: int = 200) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _sse(self, events: Iterator[dict[str, Any]], fail: bool) -> None:
        chunks = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        if fail:  # promise more than is sent, send up to the first text, hang up: the SDK's reader raises
            chunks = chunks[:3]
            self.send_header("content-length", str(sum(map(len, chunks)) + 1000))
        else:
            self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading early, as some tests mean it to


def _calls_tool(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(body.get("tools")) and (not messages or messages[-1].get("role") != "tool")


def _tool_call(body: dict[str, Any]) -> dict[str, Any]:
    name = body["tools"][0]["function"]["name"]
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": ARGUMENTS}}


def _chat(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    content = [{"type": "thinking", "thinking": THINKING}] if body.get("thinking") else []
    if _calls_tool(body):
        message.update(tool_plan=TOOL_PLAN, tool_calls=[_tool_call(body)])
        reason = "TOOL_CALL"
    else:
        content.append({"type": "text", "text": TEXT})
        reason = "COMPLETE"
    if content:
        message["content"] = content
    return {"id": "chat_1", "finish_reason": reason, "message": message, "usage": USAGE}


def _chat_events(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    yield {"type": "message-start", "id": "chat_1", "delta": {"message": start}}
    index = 0
    if body.get("thinking"):
        yield _content_start(index, "thinking")
        yield {"type": "content-delta", "index": index, "delta": {"message": {"content": {"thinking": THINKING}}}}
        yield {"type": "content-end", "index": index}
        index += 1
    if _calls_tool(body):
        yield {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": TOOL_PLAN}}}
        call = _tool_call(body)
        opened = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        yield {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": opened}}}
        for piece in (ARGUMENTS[:8], ARGUMENTS[8:]):
            arguments = {"tool_calls": {"function": {"arguments": piece}}}
            yield {"type": "tool-call-delta", "index": 0, "delta": {"message": arguments}}
        yield {"type": "tool-call-end", "index": 0}
        reason = "TOOL_CALL"
    else:
        yield _content_start(index, "text")
        for piece in TEXT_PIECES:
            yield {"type": "content-delta", "index": index, "delta": {"message": {"content": {"text": piece}}}}
        yield {"type": "content-end", "index": index}
        reason = "COMPLETE"
    yield {"type": "message-end", "delta": {"finish_reason": reason, "usage": USAGE}}


def _content_start(index: int, kind: str) -> dict[str, Any]:
    return {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}}


def _meta(**billed: Any) -> dict[str, Any]:
    return {"api_version": {"version": "2"}, "billed_units": billed}


def _embed(body: dict[str, Any]) -> dict[str, Any]:
    texts = body.get("texts") or []
    kinds = body.get("embedding_types") or ["float"]
    embeddings = {kind: [EMBEDDING if kind == "float" else [1, -1, 0] for _ in texts] for kind in kinds}
    meta = _meta(input_tokens=len(texts) * 3)
    kind = "embeddings_by_type"
    return {"id": "embed_1", "embeddings": embeddings, "texts": texts, "meta": meta, "response_type": kind}


def _rerank(body: dict[str, Any]) -> dict[str, Any]:
    """Documents ranked by how many of the query's words they share, then by their place in the request."""
    words = set(str(body.get("query", "")).lower().split())
    documents = body.get("documents") or []
    shared = [len(words & set(str(d).lower().split())) for d in documents]
    ranked = sorted(range(len(documents)), key=lambda i: (-shared[i], i))[: body.get("top_n") or len(documents)]
    results = [{"index": i, "relevance_score": round(1 / (1 + len(words) - shared[i]), 4)} for i in ranked]
    return {"id": "rerank_1", "results": results, "meta": _meta(search_units=1)}
