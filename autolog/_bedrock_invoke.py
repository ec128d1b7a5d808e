"""``invoke_model`` and ``invoke_model_with_response_stream``: the JSON bodies, read per model family.

The request body is the model's own format: Anthropic messages (read as the Anthropic integration reads them), Amazon
Nova (Converse-shaped), Amazon Titan text and embeddings, Meta Llama; any other is recorded as raw JSON. The family
comes from the model id, or from the body's keys where the id is an ARN or a profile that does not name it.
The response body is a ``StreamingBody`` the caller can read once: ``settle_body`` reads it before the span ends and
hands the caller a ``StreamingBody`` over the same bytes; a read that fails is handed on to fail the caller's read too.
"""

from __future__ import annotations

import dataclasses
import io
from types import SimpleNamespace
from typing import Any

import orjson

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json

from . import _record as rec
from . import anthropic as _anthropic
from ._bedrock_shapes import ConverseStream, base_attributes, chat_attributes, chat_response
from ._patch import Request

_METRICS = "amazon-bedrock-invocationMetrics"  # in the last chunk of every stream
_TEXT = "text_completion"
# family -> (operation, span kind)
_OPERATIONS = {
    "anthropic": ("chat", SpanKind.CHAT_MODEL),
    "nova": ("chat", SpanKind.CHAT_MODEL),
    "titan": (_TEXT, SpanKind.LLM),
    "llama": (_TEXT, SpanKind.LLM),
    "embed": ("embeddings", SpanKind.EMBEDDING),
}
_TITAN = {
    attr.GEN_AI_REQUEST_MAX_TOKENS: "maxTokenCount",
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "topP",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stopSequences",
}
_LLAMA = {
    attr.GEN_AI_REQUEST_MAX_TOKENS: "max_gen_len",
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
}
_NOVA = {attr.GEN_AI_REQUEST_MAX_TOKENS: "max_new_tokens", attr.GEN_AI_REQUEST_TOP_P: "top_p"}  # besides Converse's


@dataclasses.dataclass
class InvokeRequest(Request):
    family: str | None = None


def family_of(model: Any, body: dict[str, Any] | None) -> str | None:
    name = str(model).lower()
    for marker, family in (
        ("anthropic.", "anthropic"),
        ("amazon.nova", "nova"),
        ("embed", "embed"),
        ("amazon.titan", "titan"),
        ("meta.llama", "llama"),
    ):
        if marker in name:
            return family
    body = body or {}
    if "anthropic_version" in body:
        return "anthropic"
    if body.get("schemaVersion") == "messages-v1" or "inferenceConfig" in body:
        return "nova"
    if "textGenerationConfig" in body:
        return "titan"
    if "max_gen_len" in body:
        return "llama"
    return None


def _json(value: Any) -> Any:
    """The JSON in a body given as bytes or text; ``None`` for a file (reading it would consume the caller's)."""
    if not isinstance(value, (bytes, bytearray, memoryview, str)):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _user(text: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [rec.text_part(text)]}] if isinstance(text, str) else []


def _request_attributes(family: str | None, body: dict[str, Any], content: bool) -> dict[str, Any]:
    if family == "anthropic":
        values = rec.request_attributes(body, _anthropic._PARAMS)
        if body.get("tools"):
            values[attr.GEN_AI_TOOL_DEFINITIONS] = body["tools"]
        if content:
            values[attr.GEN_AI_INPUT_MESSAGES] = [_anthropic._message(m) for m in body.get("messages") or []]
            if body.get("system"):
                values[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = _anthropic._parts(body["system"])
        return values
    if family == "nova":
        return {**rec.request_attributes(body.get("inferenceConfig") or {}, _NOVA), **chat_attributes(body, content)}
    if family == "titan":
        values = rec.request_attributes(body.get("textGenerationConfig") or {}, _TITAN)
        return {**values, attr.GEN_AI_INPUT_MESSAGES: _user(body.get("inputText"))} if content else values
    if family == "llama":
        values = rec.request_attributes(body, _LLAMA)
        return {**values, attr.GEN_AI_INPUT_MESSAGES: _user(body.get("prompt"))} if content else values
    return {}


def invoke_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], content: bool) -> Request:
    model = kwargs.get("modelId")
    body = _json(kwargs.get("body"))
    body = body if isinstance(body, dict) else None
    family = family_of(model, body)
    operation, kind = _OPERATIONS.get(family or "", ("generate_content", SpanKind.LLM))
    values = base_attributes(operation, model)
    if body is not None:
        values.update(_request_attributes(family, body, content))
    return InvokeRequest(
        name=rec.span_name(operation, model),
        kind=kind,
        attributes=values,
        inputs=rec.inputs({**kwargs, "body": body}, ("body",), content),
        kwargs=kwargs,
        content=content,
        family=family,
    )


class _Unreadable(io.RawIOBase):
    """A body whose read failed while we read it: the caller's read fails the same way."""

    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        raise self._exc


def settle_body(result: Any) -> tuple[Any, Any]:
    """Read ``invoke_model``'s body now; the caller gets a ``StreamingBody`` over the same bytes (or the same
    failure), the response reader the bytes."""
    from botocore.response import StreamingBody

    body = result.get("body") if isinstance(result, dict) else None
    if not isinstance(body, StreamingBody):
        return result, None
    try:
        data = body.read()
    except Exception as exc:  # the connection's failure, not ours: the caller meets it when they read
        result["body"] = StreamingBody(_Unreadable(exc), None)
        return result, None
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    return result, {"body": data, "ResponseMetadata": result.get("ResponseMetadata")}


def _headers_usage(metadata: Any) -> dict[str, int]:
    """Bedrock's own counts, sent as headers on every ``invoke_model`` answer whatever the model."""
    headers = rec.get(metadata, "HTTPHeaders") or {}
    counts = [headers.get(f"x-amzn-bedrock-{k}-token-count") for k in ("input", "output")]
    numbers = [int(c) if isinstance(c, str) and c.isdigit() else None for c in counts]
    return rec.usage_attributes(input_tokens=numbers[0], output_tokens=numbers[1])


def _metrics_usage(metrics: Any) -> dict[str, int]:
    return rec.usage_attributes(
        input_tokens=rec.get(metrics, "inputTokenCount"), output_tokens=rec.get(metrics, "outputTokenCount")
    )


def _text_response(
    request: Request, data: dict[str, Any], text: Any, stop: Any, counts: tuple[Any, Any]
) -> dict[str, Any]:
    values = rec.response_attributes(response_id=None, model=None, finish_reasons=[stop])
    values.update(rec.usage_attributes(input_tokens=counts[0], output_tokens=counts[1]))
    if request.content:
        message = {"role": "assistant", "parts": [rec.text_part(text)] if isinstance(text, str) else []}
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [{**message, "finish_reason": stop}]
        values[attr.OUTPUTS] = to_json(data)
    return values


def _body_response(request: Request, family: str | None, data: Any, response_id: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {attr.OUTPUTS: to_json(data)} if request.content and data is not None else {}
    if family == "anthropic":
        return _anthropic._response(request, data)
    if family == "nova":
        return chat_response(request, data, response_id)
    if family == "titan":
        results = [r for r in data.get("results") or [] if isinstance(r, dict)]
        first = results[0] if results else {}
        output = sum(r.get("tokenCount") or 0 for r in results) if results else None
        counts = (data.get("inputTextTokenCount"), output)
        return _text_response(request, data, first.get("outputText"), first.get("completionReason"), counts)
    if family == "llama":
        counts = (data.get("prompt_token_count"), data.get("generation_token_count"))
        return _text_response(request, data, data.get("generation"), data.get("stop_reason"), counts)
    if family == "embed":
        values: dict[str, Any] = rec.usage_attributes(input_tokens=data.get("inputTextTokenCount"))
        if request.content:  # the vector would only bloat the store: its length says what it was
            vector = data.get("embedding")
            shape = {k: v for k, v in data.items() if k not in ("embedding", "embeddingsByType")}
            values[attr.OUTPUTS] = to_json({**shape, "dimensions": len(vector) if isinstance(vector, list) else None})
        return values
    return {attr.OUTPUTS: to_json(data)} if request.content else {}


def invoke_response(request: Request, read: Any) -> dict[str, Any]:
    """What ``settle_body`` read, or what ``InvokeStream`` folded: ``{"body", "ResponseMetadata", metrics}``."""
    if not isinstance(read, dict):
        return {}
    family = getattr(request, "family", None)
    metadata = read.get("ResponseMetadata")
    request_id = rec.get(metadata, "RequestId")
    body = read.get("body")
    values = _body_response(request, family, _json(body) if isinstance(body, bytes) else body, request_id)
    if attr.GEN_AI_RESPONSE_ID not in values and rec.given(request_id):
        values[attr.GEN_AI_RESPONSE_ID] = str(request_id)
    # Bedrock's own counts fill in what the body lacks; they never replace the body's (which split out the cache).
    fallback = _metrics_usage(read[_METRICS]) if read.get(_METRICS) else _headers_usage(metadata)
    return {**fallback, **values}


class InvokeStream:
    """Folds ``invoke_model_with_response_stream`` chunks (``{"chunk": {"bytes": JSON}}``) into the body a
    non-streamed ``invoke_model`` of the same model would have returned."""

    def __init__(self, request: Request, result: Any) -> None:
        self._family = getattr(request, "family", None)
        self._metadata = rec.get(result, "ResponseMetadata")
        self._metrics: Any = None
        self._token = False
        self._anthropic = _anthropic._MessageStream(request, None) if self._family == "anthropic" else None
        self._converse = ConverseStream(request, None) if self._family == "nova" else None
        self._text: list[str] = []
        self._last: dict[str, Any] = {}
        self._input_tokens: Any = None
        self._raw: list[Any] = []

    def add(self, event: Any) -> None:
        self._token = False
        chunk = _json(rec.get(event, "chunk", "bytes"))
        if not isinstance(chunk, dict):
            return
        self._metrics = chunk.pop(_METRICS, None) or self._metrics
        if self._anthropic is not None:
            self._token = chunk.get("type") == "content_block_delta"
            self._anthropic.add(SimpleNamespace(**chunk))  # its reader takes the SDK's events, by attribute
        elif self._converse is not None:
            self._token = "contentBlockDelta" in chunk
            self._converse.add(chunk)
        elif self._family in ("titan", "llama"):
            text = chunk.get("outputText" if self._family == "titan" else "generation")
            if isinstance(text, str):
                self._text.append(text)
                self._token = bool(text)
            self._input_tokens = (
                self._input_tokens or chunk.get("inputTextTokenCount") or chunk.get("prompt_token_count")
            )
            self._last = chunk
        else:
            self._raw.append(chunk)

    def is_token(self, event: Any) -> bool:
        return self._token

    def hide(self, event: Any) -> bool:
        return False

    def _body(self) -> Any:
        if self._anthropic is not None:
            return self._anthropic.result()
        if self._converse is not None:
            return {k: v for k, v in self._converse.result().items() if k != "ResponseMetadata"}
        text = "".join(self._text)
        if self._family == "titan":
            result = {
                "outputText": text,
                "tokenCount": self._last.get("totalOutputTextTokenCount"),
                "completionReason": self._last.get("completionReason"),
            }
            return {"inputTextTokenCount": self._input_tokens, "results": [result]}
        if self._family == "llama":
            return {
                "generation": text,
                "prompt_token_count": self._input_tokens,
                "generation_token_count": self._last.get("generation_token_count"),
                "stop_reason": self._last.get("stop_reason"),
            }
        return self._raw

    def result(self) -> dict[str, Any]:
        return {"body": self._body(), "ResponseMetadata": self._metadata, _METRICS: self._metrics}
