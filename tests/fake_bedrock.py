"""A small Bedrock Runtime server on 127.0.0.1 for driving the real boto3 client in tests.

It speaks the REST JSON of ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke`` and
``/invoke-with-response-stream``; streams go out in the AWS event-stream binary framing (built here: botocore can
decode it but has no encoder). Every request must be SigV4-signed with the dummy key id, else 403.

Deterministic: the same request always gets the same bytes back (a fixed ``Date`` header too). Magic model ids:
``error-429`` / ``error-500`` / ``error-400`` answer with that AWS error; ``stream-error`` sends one text delta and
then a ``modelStreamErrorException`` event; ``truncated`` (invoke) sends a body cut short. The family of an
``/invoke`` body comes from the model id (``anthropic.``, ``amazon.nova``, ``amazon.titan-text``,
``amazon.titan-embed``, ``meta.llama``). Given tools, a model calls ``weather`` once; when the last message is a
tool result it answers in text.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from _loopback import LoopbackHandler, LoopbackServer
from fake_llm_server import TEXT, TEXT_PIECES

KEY_ID = "AKIDUMMY"
REGION = "us-east-1"
ARGUMENTS = {"city": "Paris"}
CONVERSE_USAGE = {
    "inputTokens": 12,
    "outputTokens": 5,
    "totalTokens": 24,
    "cacheReadInputTokens": 3,
    "cacheWriteInputTokens": 4,
}
ANTHROPIC_USAGE = {
    "input_tokens": 12,
    "output_tokens": 5,
    "cache_read_input_tokens": 3,
    "cache_creation_input_tokens": 4,
}
HEADER_TOKENS = (10, 5)  # x-amzn-bedrock-input-token-count / -output-token-count on /invoke
EMBEDDING = [0.25, -0.5, 1.0]
_ERRORS = {
    429: "ThrottlingException",
    500: "InternalServerException",
    400: "ValidationException",
}


class FakeBedrock(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (operation, model id, JSON body)
        self.authorizations: list[str] = []


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total and headers length, CRC32), string headers, payload, CRC32."""
    head = b"".join(
        struct.pack("!B", len(name)) + name.encode() + struct.pack("!BH", 7, len(value)) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack("!II", 16 + len(head) + len(payload), len(head))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + head + payload
    return message + struct.pack("!I", zlib.crc32(message))


def event(kind: str, data: Any) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(data).encode())


def exception(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())


class _Handler(LoopbackHandler):
    server: FakeBedrock

    def date_time_string(self, timestamp: float | None = None) -> str:
        return "Thu, 01 Jan 2026 00:00:00 GMT"  # the same bytes for the same request

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        parts = self.path.split("?")[0].split("/")
        if len(parts) != 4 or parts[1] != "model":
            return self._json({"message": f"no route {self.path}"}, 404)
        model, operation = unquote(parts[2]), parts[3]
        authorization = self.headers.get("authorization") or ""
        self.server.authorizations.append(authorization)
        scope = f"Credential={KEY_ID}/"
        if not authorization.startswith("AWS4-HMAC-SHA256 ") or scope not in authorization:
            return self._error(403, "AccessDeniedException", "request not signed with the dummy key")
        if f"/{REGION}/bedrock/aws4_request" not in authorization or "Signature=" not in authorization:
            return self._error(403, "AccessDeniedException", "bad credential scope")
        body = json.loads(raw or b"{}")
        self.server.requests.append((operation, model, body))
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            return self._error(status, _ERRORS[status], f"fake {status}")
        if operation == "converse":
            return self._json(_converse(body))
        if operation == "converse-stream":
            return self._stream(_converse_events(body, model))
        if operation == "invoke" and model == "truncated":
            return self._truncated()
        if operation == "invoke":
            data, usage = _invoke(model, body)
            return self._json(data, headers=usage)
        if operation == "invoke-with-response-stream":
            return self._stream(
                event("chunk", {"bytes": base64.b64encode(json.dumps(c).encode()).decode()})
                for c in _invoke_chunks(model, body)
            )
        self._json({"message": f"no operation {operation}"}, 404)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-amzn-requestid", "req-fake")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _truncated(self) -> None:
        """A body cut short: ten bytes of the hundred announced, then the connection closes."""
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "100")
        self.end_headers()
        self.wfile.write(b'{"answer":')
        self.close_connection = True

    def _error(self, status: int, kind: str, message: str) -> None:
        self._json({"message": message}, status, {"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/"})

    def _stream(self, frames: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/vnd.amazon.eventstream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-amzn-requestid", "req-fake")
        self.end_headers()
        for message in frames:
            self.wfile.write(f"{len(message):x}\r\n".encode() + message + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


# Converse ------------------------------------------------------------------------------------------------------


def _wants_tool(body: dict[str, Any], tools: Any) -> bool:
    """A tool call unless the last message already carries a tool result (or a tool result block on Anthropic)."""
    if not tools:
        return False
    content = (body.get("messages") or [{}])[-1].get("content")
    if not isinstance(content, list):
        return True
    return not any(isinstance(b, dict) and ("toolResult" in b or b.get("type") == "tool_result") for b in content)


def _converse_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if (body.get("additionalModelRequestFields") or {}).get("thinking"):
        blocks.append({"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "sig"}}})
    if _wants_tool(body, (body.get("toolConfig") or {}).get("tools")):
        blocks.append({"text": "Checking."})
        blocks.append({"toolUse": {"toolUseId": "tooluse_1", "name": "weather", "input": ARGUMENTS}})
    else:
        blocks.append({"text": TEXT})
    return blocks


def _stop(blocks: list[dict[str, Any]]) -> str:
    return "tool_use" if any("toolUse" in b for b in blocks) else "end_turn"


def _converse(body: dict[str, Any]) -> dict[str, Any]:
    blocks = _converse_blocks(body)
    message = {"role": "assistant", "content": blocks}
    return {
        "output": {"message": message},
        "stopReason": _stop(blocks),
        "usage": CONVERSE_USAGE,
        "metrics": {"latencyMs": 42},
    }


def _converse_events(body: dict[str, Any], model: str) -> Iterator[bytes]:
    blocks = _converse_blocks(body)
    yield event("messageStart", {"role": "assistant"})
    for index, block in enumerate(blocks):
        if "text" in block:
            pieces = TEXT_PIECES if block["text"] == TEXT else [block["text"]]
            for piece in pieces:
                yield event("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": index})
                if model == "stream-error":
                    yield exception("modelStreamErrorException", "the model stopped")
                    return
        elif "reasoningContent" in block:
            text = block["reasoningContent"]["reasoningText"]
            yield event(
                "contentBlockDelta", {"delta": {"reasoningContent": {"text": text["text"]}}, "contentBlockIndex": index}
            )
            yield event(
                "contentBlockDelta",
                {"delta": {"reasoningContent": {"signature": text["signature"]}}, "contentBlockIndex": index},
            )
        else:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            yield event("contentBlockStart", {"start": start, "contentBlockIndex": index})
            arguments = json.dumps(use["input"])
            for piece in (arguments[:6], arguments[6:]):
                yield event("contentBlockDelta", {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": index})
        yield event("contentBlockStop", {"contentBlockIndex": index})
    yield event("messageStop", {"stopReason": _stop(blocks)})
    yield event("metadata", {"usage": CONVERSE_USAGE, "metrics": {"latencyMs": 42}})


# InvokeModel bodies, per model family ---------------------------------------------------------------------------


def _anthropic_message(body: dict[str, Any]) -> dict[str, Any]:
    if _wants_tool(body, body.get("tools")):
        content = [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": ARGUMENTS},
        ]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": TEXT}], "end_turn"
    return {
        "id": "msg_bdrk_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-haiku-20240307",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }


def _invoke(model: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    headers = {
        "x-amzn-bedrock-input-token-count": str(HEADER_TOKENS[0]),
        "x-amzn-bedrock-output-token-count": str(HEADER_TOKENS[1]),
    }
    if "anthropic." in model:
        return _anthropic_message(body), headers
    if "amazon.nova" in model:
        blocks = _converse_blocks(body)
        usage = {
            "inputTokens": 12,
            "outputTokens": 5,
            "totalTokens": 17,
            "cacheReadInputTokenCount": 3,
            "cacheWriteInputTokenCount": 0,
        }
        return {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": _stop(blocks),
            "usage": usage,
        }, headers
    if "amazon.titan-embed" in model:
        return {"embedding": EMBEDDING, "inputTextTokenCount": 4}, {"x-amzn-bedrock-input-token-count": "4"}
    if "amazon.titan" in model:
        result = {"tokenCount": 5, "outputText": TEXT, "completionReason": "FINISH"}
        return {"inputTextTokenCount": 10, "results": [result]}, headers
    if "meta.llama" in model:
        return {"generation": TEXT, "prompt_token_count": 10, "generation_token_count": 5, "stop_reason": "stop"}, {}
    return {"answer": TEXT}, headers  # a family the tracer does not know: recorded as raw JSON


def _metrics(first: int, last: int) -> dict[str, Any]:
    return {
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": first,
            "outputTokenCount": last,
            "invocationLatency": 42,
            "firstByteLatency": 7,
        }
    }


def _invoke_chunks(model: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "anthropic." in model:
        message = _anthropic_message(body)
        usage = message["usage"]
        yield {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}},
        }
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
                pieces = TEXT_PIECES if block["text"] == TEXT else [block["text"]]
                for piece in pieces:
                    yield {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    }
            else:
                yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
            yield {"type": "content_block_stop", "index": index}
        yield {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
        yield {"type": "message_stop", **_metrics(19, 5)}
    elif "amazon.nova" in model:
        yield {"messageStart": {"role": "assistant"}}
        for piece in TEXT_PIECES:
            yield {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}
        yield {"contentBlockStop": {"contentBlockIndex": 0}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        yield {"metadata": {"usage": {"inputTokens": 12, "outputTokens": 5}}, **_metrics(12, 5)}
    elif "amazon.titan" in model:
        for i, piece in enumerate(TEXT_PIECES):
            last = i == len(TEXT_PIECES) - 1
            yield {
                "outputText": piece,
                "index": 0,
                "totalOutputTextTokenCount": i + 1 if not last else 5,
                "completionReason": "FINISH" if last else None,
                "inputTextTokenCount": 10,
                **(_metrics(10, 5) if last else {}),
            }
    else:  # Meta Llama
        for i, piece in enumerate(TEXT_PIECES):
            last = i == len(TEXT_PIECES) - 1
            yield {
                "generation": piece,
                "prompt_token_count": 10 if i == 0 else None,
                "generation_token_count": 5 if last else i + 1,
                "stop_reason": "stop" if last else None,
                **(_metrics(10, 5) if last else {}),
            }
