"""A scripted, OpenAI-compatible chat model for ``spanlite demo``: the real SDK, no network, no API key.

It plugs into the OpenAI client as an HTTP transport, so the demo exercises the same autolog path as a real
call; it answers by looking at the conversation: ask for tools first, then answer from their results.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterator
from typing import Any

import orjson

try:
    import httpx2 as httpx  # the transport library of current openai SDKs
except ImportError:  # pragma: no cover - older SDKs
    import httpx  # type: ignore[no-redef]

MODEL = "gpt-4o-mini"
_ids = itertools.count(1)


def transport() -> Any:
    """An HTTP transport that answers chat completions and embeddings requests."""
    return httpx.MockTransport(_handle)


def _handle(request: Any) -> Any:
    body = orjson.loads(request.content or b"{}")
    if request.url.path.endswith("/embeddings"):
        return httpx.Response(200, json=_embeddings(body))
    if request.url.path.endswith("/chat/completions"):
        if "cancel" in _question(body["messages"]).lower():
            error = {"message": "Rate limit reached for gpt-4o-mini; try again in 20s.", "type": "rate_limit_exceeded"}
            return httpx.Response(429, json={"error": error})
        message = _reply(body["messages"])
        time.sleep(0.05 + 0.0004 * len(str(message.get("content") or "")))  # a model takes time to answer
        if body.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_sse(body, message))
        return httpx.Response(200, json=_completion(body, message))
    return httpx.Response(404, json={"error": {"message": f"no route {request.url.path}", "type": "not_found"}})


def _reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Tool calls for a fresh question, an answer once tool results are in."""
    last = messages[-1]
    if last["role"] == "tool":
        results = [m["content"] for m in messages if m["role"] == "tool"]
        return {"role": "assistant", "content": _answer(_question(messages), results)}
    question = str(last.get("content") or "").lower()
    calls = []
    if "order" in question:
        order = next((w.strip("?.#") for w in question.split() if w.strip("?.#").isdigit()), "0")
        calls.append(("get_order_status", {"order_id": order}))
    if any(w in question for w in ("how", "policy", "refund", "return", "warranty")):
        calls.append(("search_docs", {"query": question.rstrip("?")}))
    if "%" in question or "discount" in question:
        calls.append(("calculator", {"expression": "129.99 * 0.85"}))
    if not calls:
        return {"role": "assistant", "content": "Happy to help! Could you tell me a bit more about what you need?"}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{next(_ids)}",
                "type": "function",
                "function": {"name": n, "arguments": orjson.dumps(a).decode()},
            }
            for n, a in calls
        ],
    }


def _question(messages: list[dict[str, Any]]) -> str:
    return next(str(m["content"]) for m in reversed(messages) if m["role"] == "user")


def _answer(question: str, results: list[str]) -> str:
    facts = " ".join(r for r in results if not r.startswith("error"))
    problems = [r for r in results if r.startswith("error")]
    text = f"Here is what I found about “{question}”: {facts}" if facts else "I could not find that."
    if problems:
        text += " One lookup failed, so please double-check the order number."
    return text


def _completion(body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    prompt_tokens, completion_tokens = _usage(body, message)
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": f"chatcmpl-demo{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{MODEL}-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage_block(prompt_tokens, completion_tokens),
    }


def _sse(body: dict[str, Any], message: dict[str, Any]) -> bytes:
    return (
        b"".join(f"data: {orjson.dumps(c).decode()}\n\n".encode() for c in _chunks(body, message)) + b"data: [DONE]\n\n"
    )


def _chunks(body: dict[str, Any], message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = {
        "id": f"chatcmpl-demo{next(_ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": f"{MODEL}-2024-07-18",
    }
    words = str(message.get("content") or "").split(" ")
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for i, word in enumerate(words):
        yield {
            **base,
            "choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}],
        }
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage_block(*_usage(body, message))}


def _usage_block(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    total = prompt_tokens + completion_tokens
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}


def _usage(body: dict[str, Any], message: dict[str, Any]) -> tuple[int, int]:
    prompt = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4 + 40 * len(body.get("tools") or [])
    return prompt + 12, len(orjson.dumps(message)) // 4


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [{"object": "embedding", "index": i, "embedding": _vector(t)} for i, t in enumerate(texts)]
    tokens = sum(len(str(t)) // 4 + 1 for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _vector(text: Any) -> list[float]:
    digest = hashlib.sha256(str(text).encode()).digest()
    return [round(b / 255 - 0.5, 4) for b in digest[:16]]
