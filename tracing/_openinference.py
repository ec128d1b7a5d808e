"""spanlite's spans in OpenInference's attributes as well, for OTLP backends that read only those (Arize Phoenix).

spanlite's spans carry its own keys (``spanlite.span.kind``, ``spanlite.inputs``/``outputs`` as JSON) and, for model
calls, the OTel GenAI conventions (``gen_ai.*``). Phoenix reads neither: it showed every span as ``UNKNOWN`` with
no input or output. ``openinference`` derives OpenInference's keys from those, for the OTLP exporter to add;
``without_openinference`` drops them again where a span comes back (``spanlite serve``), so that a round trip stores
each value once.

>>> openinference({"spanlite.span.kind": "TOOL", "spanlite.inputs": '"2+2"'})
{'openinference.span.kind': 'TOOL', 'input.value': '2+2', 'input.mime_type': 'text/plain'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from . import attributes as attr
from .kinds import SpanKind

# OpenInference's kinds are ours but for these; it has none for a chat call, a task or a parser.
_KINDS = {SpanKind.CHAT_MODEL.value: "LLM", SpanKind.TASK.value: "CHAIN", SpanKind.PARSER.value: "CHAIN"}
_MODEL_KINDS = (SpanKind.LLM.value, SpanKind.CHAT_MODEL.value)
# ``gen_ai.provider.name``'s first part, where OpenInference's ``llm.provider`` spells it otherwise
_PROVIDERS = {"gcp": "google", "mistral_ai": "mistralai", "x_ai": "xai"}
_TOKENS = (
    (attr.GEN_AI_USAGE_INPUT_TOKENS, attr.OI_LLM_TOKEN_COUNT_PROMPT),
    (attr.GEN_AI_USAGE_OUTPUT_TOKENS, attr.OI_LLM_TOKEN_COUNT_COMPLETION),
    (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, attr.OI_LLM_TOKEN_COUNT_CACHE_READ),
    (attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, attr.OI_LLM_TOKEN_COUNT_CACHE_WRITE),
    (attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, attr.OI_LLM_TOKEN_COUNT_REASONING),
)
_REQUEST = "gen_ai.request."
_TEXT, _JSON = "text/plain", "application/json"
_NOT_JSON = object()


def openinference(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenInference attributes that say what a spanlite span's own attributes say; none for another's span."""
    kind = attributes.get(attr.SPAN_KIND)
    if not isinstance(kind, str):
        return {}
    out: dict[str, Any] = {attr.OI_SPAN_KIND: _KINDS.get(kind, kind)}
    _value(out, attr.OI_INPUT_VALUE, attr.OI_INPUT_MIME_TYPE, attributes.get(attr.INPUTS))
    outputs = _value(out, attr.OI_OUTPUT_VALUE, attr.OI_OUTPUT_MIME_TYPE, attributes.get(attr.OUTPUTS))
    if kind == SpanKind.RETRIEVER.value:
        _documents(out, outputs)
    model = attributes.get(attr.GEN_AI_RESPONSE_MODEL) or attributes.get(attr.GEN_AI_REQUEST_MODEL)
    if kind in _MODEL_KINDS:
        _model_call(out, attributes, model)
    elif kind == SpanKind.EMBEDDING.value and model:
        out[attr.OI_EMBEDDING_MODEL_NAME] = model
    counts = [(key, n) for ours, key in _TOKENS if isinstance(n := attributes.get(ours), int)]
    out.update(counts)
    prompt, completion = attributes.get(attr.GEN_AI_USAGE_INPUT_TOKENS), attributes.get(attr.GEN_AI_USAGE_OUTPUT_TOKENS)
    if isinstance(prompt, int) and isinstance(completion, int):
        out[attr.OI_LLM_TOKEN_COUNT_TOTAL] = prompt + completion
    if name := attributes.get(attr.GEN_AI_TOOL_NAME):
        out[attr.OI_TOOL_NAME] = name
    if name := attributes.get(attr.GEN_AI_AGENT_NAME):
        out[attr.OI_AGENT_NAME] = name
    if isinstance(tags := _parsed(attributes.get(attr.TRACE_TAGS)), list):
        out[attr.OI_TAG_TAGS] = [str(tag) for tag in tags]
    if isinstance(metadata := attributes.get(attr.TRACE_METADATA), str):
        out[attr.OI_METADATA] = metadata  # JSON text, as OpenInference has it
    return out


def without_openinference(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """A spanlite span received over OTLP, less the OpenInference attributes its exporter derived from its own (the
    span itself where there are none). One that says something else is the app's, and is kept."""
    if attr.OI_SPAN_KIND not in attributes:
        return attributes
    derived = openinference(attributes)
    return {k: v for k, v in attributes.items() if k not in derived or not _same(v, derived[k])}


def _value(out: dict[str, Any], key: str, mime_key: str, text: Any) -> Any:
    """Our JSON text as OpenInference's value and mime type: a plain string as text, anything else as JSON (text
    that is not JSON, cut by the size bound, as text). Returns the value it decoded."""
    if not isinstance(text, str):
        return _NOT_JSON
    value = _parsed(text)
    if isinstance(value, str):
        out[key], out[mime_key] = value, _TEXT
    else:
        out[key], out[mime_key] = text, (_TEXT if value is _NOT_JSON else _JSON)
    return value


def _model_call(out: dict[str, Any], a: Mapping[str, Any], model: Any) -> None:
    if model:
        out[attr.OI_LLM_MODEL_NAME] = model
    provider = a.get(attr.GEN_AI_PROVIDER_NAME) or a.get(attr.GEN_AI_SYSTEM)
    if isinstance(provider, str) and provider:
        first = provider.split(".", 1)[0]
        out[attr.OI_LLM_PROVIDER] = _PROVIDERS.get(first, first)
    parameters = {k[len(_REQUEST) :]: v for k, v in a.items() if k.startswith(_REQUEST)}
    parameters.pop("model", None)
    if parameters:
        out[attr.OI_LLM_INVOCATION_PARAMETERS] = _json(parameters)
    system = _parsed(a.get(attr.GEN_AI_SYSTEM_INSTRUCTIONS))
    inputs = _list(_parsed(a.get(attr.GEN_AI_INPUT_MESSAGES)))
    if system not in (None, _NOT_JSON, [], ""):
        inputs = [{"role": "system", "parts": system if isinstance(system, list) else [system]}, *inputs]
    _messages(out, attr.OI_LLM_INPUT_MESSAGES, inputs)
    _messages(out, attr.OI_LLM_OUTPUT_MESSAGES, _list(_parsed(a.get(attr.GEN_AI_OUTPUT_MESSAGES))))
    for i, tool in enumerate(_list(_parsed(a.get(attr.GEN_AI_TOOL_DEFINITIONS)))):
        out[f"{attr.OI_LLM_TOOLS}.{i}.{attr.OI_TOOL_JSON_SCHEMA}"] = _json(tool)


def _messages(out: dict[str, Any], prefix: str, messages: Iterable[Any]) -> None:
    """GenAI messages (``{role, parts}``, or ``{role, content}`` as the receiver and some autologs keep them) as
    OpenInference's flattened ``prefix.N.message.*``."""
    for i, message in enumerate(m for m in messages if isinstance(m, dict)):
        at = f"{prefix}.{i}."
        texts, calls = _contents(message)
        if role := message.get("role"):
            out[at + attr.OI_MESSAGE_ROLE] = str(role)
        if texts:
            out[at + attr.OI_MESSAGE_CONTENT] = "".join(texts)
        if name := message.get("name"):
            out[at + attr.OI_MESSAGE_NAME] = str(name)
        call_id = message.get("tool_call_id") or next(
            (p.get("id") for p in _list(message.get("parts")) if _type(p) == "tool_call_response"), None
        )
        if call_id:
            out[at + attr.OI_MESSAGE_TOOL_CALL_ID] = str(call_id)
        for k, call in enumerate(calls):
            call_at = f"{at}{attr.OI_MESSAGE_TOOL_CALLS}.{k}."
            function = named if isinstance(named := call.get("function"), dict) else call
            if call.get("id"):
                out[call_at + attr.OI_TOOL_CALL_ID] = str(call["id"])
            if function.get("name"):
                out[call_at + attr.OI_TOOL_CALL_FUNCTION_NAME] = str(function["name"])
            if (arguments := function.get("arguments")) is not None:
                out[call_at + attr.OI_TOOL_CALL_FUNCTION_ARGUMENTS] = (
                    arguments if isinstance(arguments, str) else _json(arguments)
                )


def _contents(message: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """A message's texts and tool calls, from its ``parts`` or its ``content`` and ``tool_calls``."""
    texts: list[str] = []
    calls = [c for c in _list(message.get("tool_calls")) if isinstance(c, dict)]
    content = message.get("content")
    parts = _list(message.get("parts")) or (content if isinstance(content, list) else [])
    if isinstance(content, str):
        texts.append(content)
    for part in parts:
        kind = _type(part)
        if isinstance(part, str):
            texts.append(part)
        elif kind == "tool_call":
            calls.append(part)
        elif kind == "tool_call_response":
            response = part.get("response")
            texts.append(response if isinstance(response, str) else _json(response))
        elif isinstance(part, dict) and isinstance(text := part.get("content", part.get("text")), str):
            texts.append(text)  # text, reasoning, refusal
    return texts, calls


def _documents(out: dict[str, Any], outputs: Any) -> None:
    """A retriever's documents (``{content | page_content, id, score, metadata}``) as ``retrieval.documents``."""
    for i, doc in enumerate(d for d in _list(outputs) if isinstance(d, dict)):
        at = f"{attr.OI_RETRIEVAL_DOCUMENTS}.{i}."
        content = doc.get("content", doc.get("page_content", doc.get("text")))
        if content is not None:
            out[at + attr.OI_DOCUMENT_CONTENT] = content if isinstance(content, str) else _json(content)
        if doc.get("id") is not None:
            out[at + attr.OI_DOCUMENT_ID] = str(doc["id"])
        if isinstance(score := doc.get("score"), (int, float)) and not isinstance(score, bool):
            out[at + attr.OI_DOCUMENT_SCORE] = float(score)
        if doc.get("metadata"):
            out[at + attr.OI_DOCUMENT_METADATA] = _json(doc["metadata"])


def _same(sent: Any, derived: Any) -> bool:
    """Equal once through OTLP, which turns tuples into lists and may send an int score as a double."""
    if isinstance(sent, (list, tuple)) and isinstance(derived, (list, tuple)):
        return list(sent) == list(derived)
    return bool(sent == derived)


def _type(part: Any) -> Any:
    return part.get("type") if isinstance(part, dict) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _parsed(text: Any) -> Any:
    """JSON text decoded; ``_NOT_JSON`` for text that is not JSON; other values as they are."""
    if not isinstance(text, str):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
