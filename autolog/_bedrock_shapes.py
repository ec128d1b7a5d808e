"""The Converse API's shapes (also Amazon Nova's ``invoke_model`` bodies) as GenAI attributes, and its stream fold."""

from __future__ import annotations

from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.serialize import to_json

from . import _record as rec
from ._patch import Request

PROVIDER = "aws.bedrock"
_CONFIG = {
    attr.GEN_AI_REQUEST_MAX_TOKENS: "maxTokens",
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_TOP_P: "topP",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stopSequences",
}


def parts(content: Any) -> list[Any]:
    """Converse content blocks (also Amazon Nova's) as GenAI message parts; others are kept as they are."""
    found: list[Any] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            found.append(rec.text_part(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            found.append(rec.tool_call_part(use.get("toolUseId"), use.get("name"), use.get("input")))
        elif "toolResult" in block:
            result = block["toolResult"]
            found.append(
                {"type": "tool_call_response", "id": result.get("toolUseId"), "response": result.get("content")}
            )
        elif "reasoningContent" in block:
            found.append({"type": "reasoning", "content": rec.get(block, "reasoningContent", "reasoningText", "text")})
        else:
            found.append(block)
    return found


def messages(value: Any) -> list[dict[str, Any]]:
    return [{"role": m.get("role"), "parts": parts(m.get("content"))} for m in value or [] if isinstance(m, dict)]


def tool_definitions(tools: Any) -> list[Any]:
    """``toolConfig.tools`` (``{"toolSpec": {name, description, inputSchema: {json}}}``) as flat definitions."""
    definitions = []
    for tool in tools if isinstance(tools, list) else []:
        spec = rec.get(tool, "toolSpec")
        if isinstance(spec, dict):
            definition = {"type": "function", "name": spec.get("name"), "description": spec.get("description")}
            definitions.append({**definition, "parameters": rec.get(spec, "inputSchema", "json")})
        else:
            definitions.append(tool)
    return definitions


def chat_attributes(data: dict[str, Any], content: bool) -> dict[str, Any]:
    """What a Converse request and a Nova ``invoke_model`` body share: config, tools, messages, system."""
    values = rec.request_attributes(data.get("inferenceConfig") or {}, _CONFIG)
    tools = rec.get(data, "toolConfig", "tools")
    if tools:
        values[attr.GEN_AI_TOOL_DEFINITIONS] = tool_definitions(tools)
    if content:
        values[attr.GEN_AI_INPUT_MESSAGES] = messages(data.get("messages"))
        if data.get("system"):
            values[attr.GEN_AI_SYSTEM_INSTRUCTIONS] = parts(data["system"])
    return values


def base_attributes(operation: str, model: Any) -> dict[str, Any]:
    values = {attr.GEN_AI_OPERATION_NAME: operation, attr.GEN_AI_PROVIDER_NAME: PROVIDER}
    if rec.given(model):
        values[attr.GEN_AI_REQUEST_MODEL] = str(model)
    return values


def usage(data: Any) -> dict[str, int]:
    """Converse's ``usage`` (also Nova's, whose cache counts end in ``Count``): ``inputTokens`` leaves out what was
    read from or written to the cache, the GenAI count takes it in."""
    if not isinstance(data, dict):
        return {}
    read = data.get("cacheReadInputTokens", data.get("cacheReadInputTokenCount"))
    write = data.get("cacheWriteInputTokens", data.get("cacheWriteInputTokenCount"))
    inputs = data.get("inputTokens")
    if isinstance(inputs, int):
        inputs += (read if isinstance(read, int) else 0) + (write if isinstance(write, int) else 0)
    return rec.usage_attributes(
        input_tokens=inputs,
        output_tokens=data.get("outputTokens"),
        cache_read=read or None,
        cache_creation=write or None,
    )


def chat_response(request: Request, data: dict[str, Any], response_id: Any) -> dict[str, Any]:
    """A Converse result (also a Nova body, and either folded from its stream) without its ``ResponseMetadata``."""
    stop = data.get("stopReason")
    values = rec.response_attributes(response_id=response_id, model=None, finish_reasons=[stop])
    values.update(usage(data.get("usage")))
    if request.content:
        message = rec.get(data, "output", "message") or {}
        output = {"role": message.get("role") or "assistant", "parts": parts(message.get("content"))}
        values[attr.GEN_AI_OUTPUT_MESSAGES] = [{**output, "finish_reason": stop}]
        values[attr.OUTPUTS] = to_json(data)
    return values


class ConverseStream:
    """Folds ``converse_stream`` events (and Amazon Nova's ``invoke_model`` stream chunks) into a Converse result."""

    def __init__(self, request: Request, result: Any) -> None:
        self._message: dict[str, Any] = {"role": "assistant", "content": []}
        self._data: dict[str, Any] = {"output": {"message": self._message}}
        request_id = rec.get(result, "ResponseMetadata", "RequestId")
        if request_id is not None:  # the events lack it: kept where a Converse result has it
            self._data["ResponseMetadata"] = {"RequestId": request_id}
        self._json: dict[int, str] = {}

    def _block(self, index: Any, start: dict[str, Any]) -> dict[str, Any] | None:
        blocks = self._message["content"]
        if not isinstance(index, int) or index < 0 or index > len(blocks):
            return None
        if index == len(blocks):
            blocks.append(start)
        return blocks[index]  # type: ignore[no-any-return]

    def add(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        if "messageStart" in event:
            self._message["role"] = rec.get(event, "messageStart", "role") or "assistant"
        elif "contentBlockStart" in event:
            start, index = (
                event["contentBlockStart"].get("start") or {},
                event["contentBlockStart"].get("contentBlockIndex"),
            )
            if "toolUse" in start:
                self._block(index, {"toolUse": {**start["toolUse"], "input": {}}})
                self._json[index] = ""
        elif "contentBlockDelta" in event:
            self._delta(event["contentBlockDelta"])
        elif "contentBlockStop" in event:
            index = event["contentBlockStop"].get("contentBlockIndex")
            block = self._block(index, {})
            if index in self._json and block is not None and "toolUse" in block:
                block["toolUse"]["input"] = rec.parse_arguments(self._json.pop(index) or "{}")
        elif "messageStop" in event:
            self._data["stopReason"] = event["messageStop"].get("stopReason")
        elif "metadata" in event:
            self._data.update({k: v for k, v in event["metadata"].items() if k in ("usage", "metrics")})

    def _delta(self, event: dict[str, Any]) -> None:
        delta, index = event.get("delta") or {}, event.get("contentBlockIndex")
        if "text" in delta:
            block = self._block(index, {"text": ""})
            if block is not None:
                block["text"] = (block.get("text") or "") + delta["text"]
        elif "toolUse" in delta and index in self._json:
            self._json[index] += rec.get(delta, "toolUse", "input") or ""
        elif "reasoningContent" in delta:
            block = self._block(index, {"reasoningContent": {"reasoningText": {"text": ""}}})
            text = rec.get(block, "reasoningContent", "reasoningText")
            if isinstance(text, dict):
                reasoning = delta["reasoningContent"]
                text["text"] = (text.get("text") or "") + (reasoning.get("text") or "")
                if reasoning.get("signature"):
                    text["signature"] = reasoning["signature"]

    def is_token(self, event: Any) -> bool:
        return isinstance(event, dict) and "contentBlockDelta" in event

    def hide(self, event: Any) -> bool:
        return False

    def result(self) -> dict[str, Any]:
        return self._data
