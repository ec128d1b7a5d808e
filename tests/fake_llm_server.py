"""A small OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1 for driving the real SDKs in tests.

Deterministic: the same request always gets the same bytes back, so a call with and without autolog can be
compared. Magic model names: ``error-429`` / ``error-500`` answer with that HTTP error; ``stream-error`` sends one
chunk of a stream and then an error event. Requests are kept in ``server.requests`` (path, JSON body).
Given tools, a chat completion calls (up to two of) them; once the last message is a tool result it answers in
text, so an agent loop over the fake ends after one round of tool calls. An agent test that needs more (a handoff,
a retry) scripts the turns of a model name of its own: ``server.script("triage", [[("transfer_to_x", {})], "Done."])``
makes the next OpenAI requests for that model call those tools, then answer that text; afterwards the default rules.
A scripted call may name its own call id, ``("weather", {"city": "Paris"}, "call_w")``; else it is ``call_<i>``, the
same in every turn, which agent loops that tell tool calls apart by id (the OpenAI Agents SDK) refuse.
Anthropic's messages endpoint takes the scripted text turns too (``server.script("judge", ['{"result": "yes"}'])``).
A turn may also be a ``Fault``: that request waits ``delay`` seconds, then gets HTTP ``status`` with ``headers``
(``Fault(429, headers={"retry-after": "1"})``), or, without a status, the answer it would have got unscripted;
a client that gives up waiting has timed out.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from _loopback import LoopbackHandler, LoopbackServer
from spanlite.store import SpanRecord

CREATED = 1_700_000_000
TEXT_PIECES = ["Hello", " there", "!"]
TEXT = "".join(TEXT_PIECES)
JSON_ANSWER = '{"city": "Paris", "country": "France"}'
ARGUMENTS = '{"city": "Paris"}'
OPENAI_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 2},
    "completion_tokens_details": {"reasoning_tokens": 1},
}
RESPONSES_USAGE = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 2},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 1},
    "total_tokens": 17,
}
ANTHROPIC_USAGE = {
    "input_tokens": 12,
    "output_tokens": 5,
    "cache_read_input_tokens": 3,
    "cache_creation_input_tokens": 4,
}
EMBEDDING = [0.25, -0.5, 1.0]


@dataclasses.dataclass(frozen=True)
class Fault:
    """A scripted turn that goes wrong: wait ``delay`` seconds, then answer HTTP ``status`` (with ``headers``)."""

    status: int | None = None
    delay: float = 0.0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


# One scripted model turn: the text it answers, the tool calls it makes (name, arguments[, call id]), or a fault.
Turn = str | list[tuple[str, dict[str, Any] | str] | tuple[str, dict[str, Any] | str, str]] | Fault


class FakeLLMServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self._scripts: dict[str, list[Turn]] = {}
        self._script_lock = threading.Lock()

    def script(self, model: str, turns: list[Turn]) -> None:
        """The next OpenAI chat/responses (or Anthropic messages) requests for ``model`` take these turns, in order."""
        with self._script_lock:
            self._scripts[model] = list(turns)

    def next_turn(self, model: str) -> Turn | None:
        with self._script_lock:
            turns = self._scripts.get(model)
            return turns.pop(0) if turns else None


class _Handler(LoopbackHandler):
    server: FakeLLMServer

    def do_POST(self) -> None:
        body = self.json_body()
        self.server.requests.append((self.path, body))
        model = str(body.get("model", ""))
        anthropic = self.path.endswith("/v1/messages")
        if model.startswith("error-"):
            return self._error(int(model.split("-", 1)[1]), anthropic)
        path = self.path.split("?")[0]
        turn = self.server.next_turn(model)
        if isinstance(turn, Fault):
            time.sleep(turn.delay)
            if turn.status is not None:
                return self._error(turn.status, anthropic, turn.headers)
        elif turn is not None:
            body = {**body, _TURN: turn}
        if anthropic:
            if body.get("stream"):
                return self._sse(_anthropic_events(body), named=True)
            return self._json(_anthropic_message(body))
        if path.endswith("/chat/completions"):
            if body.get("stream"):
                return self._sse(_chat_chunks(body), done=True)
            return self._json(_chat_completion(body))
        if path.endswith("/responses"):
            if body.get("stream"):
                return self._sse(_response_events(body), named=True)
            return self._json(_response(body))
        if path.endswith("/embeddings"):
            return self._json(_embeddings(body))
        if path.endswith("/completions"):
            return self._sse(_text_chunks(body), done=True) if body.get("stream") else self._json(_text(body))
        self._json({"error": {"message": f"no route {self.path}"}}, status=404)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-request-id", "req_fake")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client timed out on a scripted delay and left

    def _error(self, status: int, anthropic: bool, headers: dict[str, str] | None = None) -> None:
        if anthropic:
            kind = "rate_limit_error" if status == 429 else "api_error"
            self._json({"type": "error", "error": {"type": kind, "message": f"fake {status}"}}, status, headers)
        else:
            error = {"message": f"fake {status}", "type": "fake_error", "param": None, "code": None}
            self._json({"error": error}, status, headers)

    def _sse(self, events: Iterator[tuple[str, Any]], *, named: bool = False, done: bool = False) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for name, data in events:
                head = f"event: {name}\n" if named else ""
                self.wfile.write(f"{head}data: {json.dumps(data)}\n\n".encode())
            if done:
                self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading early, as some tests mean it to


# OpenAI chat completions -----------------------------------------------------------------------------------------


_TURN = "__scripted_turn"  # where do_POST hands a scripted turn to the builders below


def _tool_calls(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The tools this reply calls: call id, name and JSON arguments."""
    turn = body.get(_TURN)
    if isinstance(turn, list):
        calls = []
        for i, (name, args, *call_id) in enumerate(turn):
            calls.append(
                (call_id[0] if call_id else f"call_{i}", name, args if isinstance(args, str) else json.dumps(args))
            )
        return calls
    if isinstance(turn, str):
        return []
    return [(f"call_{i}", name, ARGUMENTS) for i, name in enumerate(_tool_names(body))]


def _tool_names(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages") or body.get("input") or []
    last = messages[-1] if isinstance(messages, list) and messages else None
    if isinstance(last, dict) and (last.get("role") == "tool" or last.get("type") == "function_call_output"):
        return []  # the tools have answered: time for the model to answer too
    names = [t.get("function", t).get("name") for t in body.get("tools") or []]
    return names[:2] if body.get("parallel_tool_calls") is not False else names[:1]


def _answer(body: dict[str, Any]) -> str:
    if isinstance(turn := body.get(_TURN), str):
        return turn
    formats = (body.get("response_format") or {}, (body.get("text") or {}).get("format") or {})
    return JSON_ANSWER if any(f.get("type") == "json_schema" for f in formats) else TEXT


def _chat_head(body: dict[str, Any], obj: str) -> dict[str, Any]:
    model = f"{body['model']}-2024"
    return {"id": "chatcmpl-1", "object": obj, "created": CREATED, "model": model, "system_fingerprint": "fp_1"}


def _chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    tools = _tool_calls(body)
    message: dict[str, Any] = {"role": "assistant", "content": None if tools else _answer(body), "refusal": None}
    if tools:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in tools
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tools else "stop"}
    return {**_chat_head(body, "chat.completion"), "choices": [choice], "usage": OPENAI_USAGE}


def _chat_chunks(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    usage = (body.get("stream_options") or {}).get("include_usage")
    extra = {"usage": None} if usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return "", {**_chat_head(body, "chat.completion.chunk"), "choices": [choice], **extra}

    yield chunk({"role": "assistant", "content": ""})
    if body["model"] == "stream-error":
        yield "", {"error": {"message": "boom mid-stream", "type": "server_error"}}
        return
    tools = _tool_calls(body)
    for i, (call_id, name, arguments) in enumerate(tools):
        call = {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        yield chunk({"tool_calls": [call]})
        for piece in (arguments[:8], arguments[8:]):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    if not tools:
        answer = _answer(body)
        for piece in TEXT_PIECES if answer == TEXT else [answer]:
            yield chunk({"content": piece})
    yield chunk({}, "tool_calls" if tools else "stop")
    if usage:
        yield "", {**_chat_head(body, "chat.completion.chunk"), "choices": [], "usage": OPENAI_USAGE}


# OpenAI legacy completions and embeddings ----------------------------------------------------------------------


def _text(body: dict[str, Any]) -> dict[str, Any]:
    choice = {"text": TEXT, "index": 0, "logprobs": None, "finish_reason": "stop"}
    return {**_chat_head(body, "text_completion"), "choices": [choice], "usage": OPENAI_USAGE}


def _text_chunks(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    usage = (body.get("stream_options") or {}).get("include_usage")
    head = {**_chat_head(body, "text_completion"), **({"usage": None} if usage else {})}
    for i, piece in enumerate(TEXT_PIECES):
        finish = "stop" if i == len(TEXT_PIECES) - 1 else None
        yield "", {**head, "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": finish}]}
    if usage:
        yield "", {**head, "choices": [], "usage": OPENAI_USAGE}


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    vector: Any = EMBEDDING
    if body.get("encoding_format") == "base64":
        vector = base64.b64encode(struct.pack(f"<{len(EMBEDDING)}f", *EMBEDDING)).decode()
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(len(inputs))]
    return {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 4, "total_tokens": 4}}


# OpenAI Responses API --------------------------------------------------------------------------------------------


def _response(body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    tools = _tool_calls(body)
    if tools:
        output: list[Any] = [
            {
                "type": "function_call",
                "id": f"fc_{i}" if call_id == f"call_{i}" else f"fc_{call_id}",
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
                "status": "completed",
            }
            for i, (call_id, name, arguments) in enumerate(tools)
        ]
    else:
        output = [_response_message(_answer(body))]
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": f"{body['model']}-2024",
        "output": output if status == "completed" else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "usage": RESPONSES_USAGE if status == "completed" else None,
        "instructions": body.get("instructions"),
        "error": None,
        "incomplete_details": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "text": body.get("text") or {"format": {"type": "text"}},
    }


def _response_message(text: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": []}
    return {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [part]}


def _response_events(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    seq = iter(range(1000))

    def event(kind: str, **data: Any) -> tuple[str, Any]:
        return kind, {"type": kind, "sequence_number": next(seq), **data}

    yield event("response.created", response=_response(body, "in_progress"))
    final = _response(body)
    for index, item in enumerate(final["output"]):
        if item["type"] != "message":
            yield event("response.output_item.added", output_index=index, item=item)
            yield event("response.output_item.done", output_index=index, item=item)
            continue
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        started = {**item, "status": "in_progress", "content": []}
        yield event("response.output_item.added", output_index=index, item=started)
        yield event("response.content_part.added", **where, part={"type": "output_text", "text": "", "annotations": []})
        text = item["content"][0]["text"]
        for piece in TEXT_PIECES if text == TEXT else [text]:
            yield event("response.output_text.delta", **where, delta=piece, logprobs=[])
        yield event("response.output_text.done", **where, text=text, logprobs=[])
        yield event("response.content_part.done", **where, part=item["content"][0])
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=final)


# Anthropic messages ----------------------------------------------------------------------------------------------


def _anthropic_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if body.get("thinking"):
        blocks.append({"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"})
    tools = [t["name"] for t in body.get("tools") or []]
    if isinstance(turn := body.get(_TURN), str):
        blocks.append({"type": "text", "text": turn})
    elif tools:
        blocks.append({"type": "text", "text": "Checking."})
        blocks.append({"type": "tool_use", "id": "toolu_1", "name": tools[0], "input": json.loads(ARGUMENTS)})
    else:
        blocks.append({"type": "text", "text": TEXT})
    return blocks


def _anthropic_message(body: dict[str, Any], streaming: bool = False) -> dict[str, Any]:
    blocks = _anthropic_blocks(body)
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": f"{body['model']}-2024",
        "content": [] if streaming else blocks,
        "stop_reason": None if streaming else stop,
        "stop_sequence": None,
        "usage": {**ANTHROPIC_USAGE, "output_tokens": 1} if streaming else ANTHROPIC_USAGE,
    }


def _anthropic_events(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    def event(kind: str, **data: Any) -> tuple[str, Any]:
        return kind, {"type": kind, **data}

    yield event("message_start", message=_anthropic_message(body, streaming=True))
    blocks = _anthropic_blocks(body)
    empty = {"text": {"text": ""}, "thinking": {"thinking": "", "signature": ""}, "tool_use": {"input": {}}}
    for index, block in enumerate(blocks):
        yield event("content_block_start", index=index, content_block={**block, **empty[block["type"]]})
        if block["type"] == "text":
            for piece in TEXT_PIECES if block["text"] == TEXT else [block["text"]]:
                yield event("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
                if body["model"] == "stream-error":
                    yield event("error", error={"type": "overloaded_error", "message": "Overloaded"})
                    return
        elif block["type"] == "thinking":
            for delta in (
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ):
                yield event("content_block_delta", index=index, delta=delta)
        else:
            for piece in (ARGUMENTS[:8], ARGUMENTS[8:]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield event("content_block_delta", index=index, delta=delta)
        yield event("content_block_stop", index=index)
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    yield event("message_delta", delta={"stop_reason": stop, "stop_sequence": None}, usage={"output_tokens": 5})
    yield event("message_stop")


# Comparing a call with and without autolog -----------------------------------------------------------------------


def observe(scenario: Callable[[], Any], errors: type[BaseException]) -> tuple[Any, list[SpanRecord]]:
    """What the caller saw (result, or the SDK error) and the spans the call left under a root span."""
    import spanlite

    with spanlite.start_span("test") as root:
        try:
            seen: Any = ("ok", scenario())
        except errors as exc:
            seen = ("error", type(exc), getattr(exc, "status_code", None), str(exc))
    trace = spanlite.get_trace(root.trace_id)
    assert trace is not None
    return seen, [s for s in trace.spans if s.span_id != root.span_id]


def both(library: str, scenario: Callable[[], Any], errors: type[BaseException]) -> tuple[Any, SpanRecord]:
    """Run without and with autolog: the caller's view must match and exactly one span must have ended."""
    import spanlite

    spanlite.autolog(library, disable=True)
    plain, spans = observe(scenario, errors)
    assert spans == []
    spanlite.autolog(library)
    logged, spans = observe(scenario, errors)
    assert logged == plain
    assert len(spans) == 1, [s.name for s in spans]
    return logged, decoded(spans[0])


def decoded(span: SpanRecord) -> SpanRecord:
    """The span with its JSON-text attributes (messages, tool definitions) parsed, to compare as data."""
    values = {k: json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for k, v in span.attributes.items()}
    return dataclasses.replace(span, attributes=values)
