"""Map spans from any instrumentor onto spanlite's attribute keys, so the viewer shows them like our own.

Understood on ingest: OpenInference (``openinference.span.kind``, ``input.value``, ``llm.input_messages.N.*``,
``llm.token_count.*``), OpenLLMetry/Traceloop (``traceloop.span.kind``, ``traceloop.entity.input``,
``gen_ai.prompt.N.*``, ``gen_ai.usage.prompt_tokens``), MLflow's tracing SDK (``mlflow.spanType``,
``mlflow.spanInputs``, ``mlflow.chat.tokenUsage``, ``mlflow.traceTag.*``), Pydantic AI's agent runs
(``pydantic_ai.all_messages``, ``final_result``) and the OTel GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.input.messages`` with ``parts``). Keys whose whole content moves into one
of ours (inputs, outputs, messages, token counts) are removed; every other attribute is kept as it came.
Spans that already carry ``spanlite.span.kind`` are ours and pass through unchanged.

>>> normalize({"openinference.span.kind": "TOOL", "input.value": "2+2"})["spanlite.inputs"]
'"2+2"'
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Mapping
from typing import Any

import orjson

from spanlite.tracing import attributes as attr
from spanlite.tracing.kinds import SpanKind

# A kind named by a sender: spanlite's own names (OpenInference's and MLflow's are nearly all the same), and the rest.
_NAMED_KINDS = {
    **SpanKind.__members__,
    "PROMPT": SpanKind.TASK, "DECISION": SpanKind.CHAIN,  # OpenInference
    "WORKFLOW": SpanKind.CHAIN,  # MLflow; its MEMORY fits none of ours and stays UNKNOWN
}  # fmt: skip
_TRACELOOP_KINDS = {
    "workflow": SpanKind.CHAIN, "task": SpanKind.TASK, "agent": SpanKind.AGENT, "tool": SpanKind.TOOL,
}  # fmt: skip
_OPERATIONS = {
    "chat": SpanKind.CHAT_MODEL, "generate_content": SpanKind.CHAT_MODEL, "text_completion": SpanKind.LLM,
    "completion": SpanKind.LLM, "embeddings": SpanKind.EMBEDDING, "embedding": SpanKind.EMBEDDING,
    "execute_tool": SpanKind.TOOL, "invoke_agent": SpanKind.AGENT, "create_agent": SpanKind.AGENT,
    "invoke_workflow": SpanKind.CHAIN, "retrieval": SpanKind.RETRIEVER, "rerank": SpanKind.RERANKER,
}  # fmt: skip
# An operation that is a model call says more than a Traceloop span kind: OpenLLMetry marks a call at the root of a
# trace a ``workflow``.
_MODEL_CALLS = frozenset((SpanKind.CHAT_MODEL, SpanKind.LLM, SpanKind.EMBEDDING))
_TRACELOOP_SESSION_KEYS = ("session_id", "session", "thread_id", "conversation_id")
_TRACELOOP_USER_KEYS = ("user_id", "user")
_INDEXED = re.compile(r"(\d+)\.(.+)")
_MLFLOW_TAG_PREFIX = attr.MLFLOW_TRACE_TAG + "."
# Every key the mappings below read starts with one of these (OpenInference's only once its span kind is there).
# Most spans carry none, and one C-level check per key spares them the whole walk.
_FOREIGN_PREFIXES = (attr.OI_SPAN_KIND, "traceloop.", "gen_ai.", attr.LLM_REQUEST_TYPE, "mlflow.")
_is_foreign = operator.methodcaller("startswith", _FOREIGN_PREFIXES)


def normalize(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``attributes`` with spanlite's keys filled in from whichever convention the sender used, as a new dict.

    With nothing to map (most spans), ``attributes`` itself: the caller, ``span_row``, copies it anyway.
    """
    if attr.SPAN_KIND in attributes or not any(map(_is_foreign, attributes)):
        return attributes
    a = dict(attributes)
    out: dict[str, Any] = {}
    if a.get(attr.OI_SPAN_KIND) is not None:
        _openinference(a, out)
    _mlflow(a, out)
    _traceloop(a, out)
    if attr.PYDANTIC_AI_ALL_MESSAGES in a or attr.PYDANTIC_AI_MODEL_REQUEST_ATTEMPT in a:
        _pydantic_ai(a, out)
    _gen_ai(a, out)
    _put(out, attr.SPAN_KIND, _kind(a, out))
    for key, value in out.items():
        if value is not None:
            a.setdefault(key, value)  # where the sender already used our key, theirs wins
    if a.get(attr.SPAN_KIND) is None:
        a.pop(attr.SPAN_KIND, None)
    return a


def _openinference(a: dict[str, Any], out: dict[str, Any]) -> None:
    kind = str(a.get(attr.OI_SPAN_KIND)).upper()
    in_messages = _oi_messages(_indexed(a, attr.OI_LLM_INPUT_MESSAGES))
    out_messages = _oi_messages(_indexed(a, attr.OI_LLM_OUTPUT_MESSAGES))
    if kind == SpanKind.LLM.value and in_messages:
        out[attr.SPAN_KIND] = SpanKind.CHAT_MODEL.value  # a chat call, whichever instrumentor saw it
    elif kind in _NAMED_KINDS:
        out[attr.SPAN_KIND] = _NAMED_KINDS[kind].value
    out[attr.INPUTS] = _value_json(a.pop(attr.OI_INPUT_VALUE, None), a.pop(attr.OI_INPUT_MIME_TYPE, None))
    if docs := _indexed(a, attr.OI_RETRIEVAL_DOCUMENTS):
        # What was retrieved, whatever ``output.value`` says (LlamaIndex's is object reprs): it stays an attribute.
        out[attr.OUTPUTS] = _json([_strip_prefix(d, "document.") for d in docs])
    else:
        out[attr.OUTPUTS] = _value_json(a.pop(attr.OI_OUTPUT_VALUE, None), a.pop(attr.OI_OUTPUT_MIME_TYPE, None))
    if in_messages:
        out[attr.GEN_AI_INPUT_MESSAGES] = _json(in_messages)
    if out_messages:
        out[attr.GEN_AI_OUTPUT_MESSAGES] = _json(out_messages)
    model = (
        a.get(attr.OI_LLM_RESPONSE_MODEL_NAME) or a.get(attr.OI_LLM_MODEL_NAME) or a.get(attr.OI_EMBEDDING_MODEL_NAME)
    )
    out[attr.GEN_AI_REQUEST_MODEL] = a.get(attr.OI_LLM_REQUEST_MODEL_NAME) or model
    out[attr.GEN_AI_RESPONSE_MODEL] = model
    out[attr.GEN_AI_PROVIDER_NAME] = a.get(attr.OI_LLM_PROVIDER) or a.get(attr.OI_LLM_SYSTEM)
    out[attr.GEN_AI_USAGE_INPUT_TOKENS] = _int(a.pop(attr.OI_LLM_TOKEN_COUNT_PROMPT, None))
    out[attr.GEN_AI_USAGE_OUTPUT_TOKENS] = _int(a.pop(attr.OI_LLM_TOKEN_COUNT_COMPLETION, None))
    out[attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = _int(a.pop(attr.OI_LLM_TOKEN_COUNT_CACHE_READ, None))
    out[attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = _int(a.pop(attr.OI_LLM_TOKEN_COUNT_REASONING, None))
    out[attr.GEN_AI_TOOL_NAME] = a.get(attr.OI_TOOL_NAME)
    out[attr.GEN_AI_AGENT_NAME] = a.get(attr.OI_AGENT_NAME)
    if tags := a.pop(attr.OI_TAG_TAGS, None):
        out[attr.TRACE_TAGS] = _json([str(t) for t in tags] if isinstance(tags, (list, tuple)) else [str(tags)])
    if (metadata := a.pop(attr.OI_METADATA, None)) is not None:
        parsed = _maybe_json(metadata)
        out[attr.TRACE_METADATA] = _json(parsed if isinstance(parsed, dict) else {"metadata": parsed})


def _mlflow(a: dict[str, Any], out: dict[str, Any]) -> None:
    """MLflow's span attributes, each a JSON text; trace tags, which its OTLP export puts on the root span."""
    if (kind := _NAMED_KINDS.get(str(_maybe_json(a.get(attr.MLFLOW_SPAN_TYPE))).upper())) is not None:
        a.pop(attr.MLFLOW_SPAN_TYPE)
        _put(out, attr.SPAN_KIND, kind.value)
    if (value := a.pop(attr.MLFLOW_SPAN_INPUTS, None)) is not None:
        _put(out, attr.INPUTS, _json(_maybe_json(value)))
    if (value := a.pop(attr.MLFLOW_SPAN_OUTPUTS, None)) is not None:
        _put(out, attr.OUTPUTS, _json(_maybe_json(value)))
    if isinstance(usage := _maybe_json(a.get(attr.MLFLOW_CHAT_TOKEN_USAGE)), dict):  # kept: it has the total too
        _put(out, attr.GEN_AI_USAGE_INPUT_TOKENS, _int(usage.get("input_tokens")))
        _put(out, attr.GEN_AI_USAGE_OUTPUT_TOKENS, _int(usage.get("output_tokens")))
        _put(out, attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, _int(usage.get("cache_read_input_tokens")))
        _put(out, attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, _int(usage.get("cache_creation_input_tokens")))
    _put(out, attr.GEN_AI_REQUEST_MODEL, _unquoted(a.pop(attr.MLFLOW_LLM_MODEL, None)))
    _put(out, attr.GEN_AI_PROVIDER_NAME, _unquoted(a.pop(attr.MLFLOW_LLM_PROVIDER, None)))
    _put(out, attr.CODE_FUNCTION_NAME, _unquoted(a.pop(attr.MLFLOW_SPAN_FUNCTION_NAME, None)))
    if (value := a.pop(attr.MLFLOW_CHAT_TOOLS, None)) is not None:
        _put(out, attr.GEN_AI_TOOL_DEFINITIONS, _json(_maybe_json(value)))
    # Key-value pairs, as spanlite's trace metadata is (and searchable the same way); its tags are plain labels.
    if tags := {k[len(_MLFLOW_TAG_PREFIX) :]: a.pop(k) for k in [k for k in a if k.startswith(_MLFLOW_TAG_PREFIX)]}:
        _put(out, attr.TRACE_METADATA, _json(tags))
    if attr.MLFLOW_TRACE_REQUEST_ID in a:  # an MLflow span: the app's own attributes are JSON text too
        for key, value in a.items():
            a[key] = _unquoted(value)


def _unquoted(value: Any) -> Any:
    """A JSON string's text (MLflow writes ``"gpt-4o"``); any other value as it is."""
    if isinstance(value, str) and value[:1] == '"' and isinstance(text := _maybe_json(value), str):
        return text
    return value


def _traceloop(a: dict[str, Any], out: dict[str, Any]) -> None:
    if (value := a.pop(attr.TRACELOOP_ENTITY_INPUT, None)) is not None:
        _put(out, attr.INPUTS, _json(_maybe_json(value)))
    if (value := a.pop(attr.TRACELOOP_ENTITY_OUTPUT, None)) is not None:
        _put(out, attr.OUTPUTS, _json(_maybe_json(value)))
    prompts = [_flat_message(m) for m in _indexed(a, attr.GEN_AI_PROMPT)]
    completions = [_flat_message(m, default_role="assistant") for m in _indexed(a, attr.GEN_AI_COMPLETION)]
    if prompts:
        _put(out, attr.GEN_AI_INPUT_MESSAGES, _json(prompts))
    if completions:
        _put(out, attr.GEN_AI_OUTPUT_MESSAGES, _json(completions))
    _put(out, attr.GEN_AI_USAGE_INPUT_TOKENS, _int(a.pop(attr.GEN_AI_USAGE_PROMPT_TOKENS, None)))
    _put(out, attr.GEN_AI_USAGE_OUTPUT_TOKENS, _int(a.pop(attr.GEN_AI_USAGE_COMPLETION_TOKENS, None)))
    prefix = attr.TRACELOOP_ASSOCIATION_PROPERTIES + "."
    props = {k[len(prefix) :]: v for k, v in a.items() if k.startswith(prefix)}
    _put(out, attr.SESSION_ID, next((props[k] for k in _TRACELOOP_SESSION_KEYS if props.get(k)), None))
    _put(out, attr.USER_ID, next((props[k] for k in _TRACELOOP_USER_KEYS if props.get(k)), None))


def _pydantic_ai(a: dict[str, Any], out: dict[str, Any]) -> None:
    """An agent run's span: its inputs are the messages the run added up to the first answer (its prompt) and the deps
    spanlite's autolog recorded, its output ``final_result`` (text, or the output as JSON text). The messages and
    ``final_result`` are kept too: they are the run as Pydantic AI saw it.
    A failed attempt of a ``FallbackModel`` (a span with no operation) is the model call it was."""
    if attr.PYDANTIC_AI_MODEL_REQUEST_ATTEMPT in a:
        _put(out, attr.SPAN_KIND, SpanKind.CHAT_MODEL.value)
    messages = _maybe_json(a.get(attr.PYDANTIC_AI_ALL_MESSAGES))
    if isinstance(messages, list):
        added = messages[_int(a.get(attr.PYDANTIC_AI_NEW_MESSAGE_INDEX)) or 0 :]
        prompt = itertools.takewhile(lambda m: not (isinstance(m, dict) and m.get("role") == "assistant"), added)
        inputs: dict[str, Any] = {"messages": [_parts_message(m) for m in prompt]}
        if (deps := a.pop(attr.AGENT_DEPS, None)) is not None:
            inputs["deps"] = _maybe_json(deps)
        _put(out, attr.INPUTS, _json(inputs))
    if (value := a.get(attr.PYDANTIC_AI_FINAL_RESULT)) is not None:
        _put(out, attr.OUTPUTS, _json(_maybe_json(value)))


def _gen_ai(a: dict[str, Any], out: dict[str, Any]) -> None:
    """The GenAI conventions' own keys: messages as ``parts`` become ``{role, content}``; older names renamed."""
    for key in (attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES):
        if (value := a.get(key)) is not None:
            messages = _maybe_json(value)
            if isinstance(messages, list):
                a[key] = _json([_parts_message(m) for m in messages])
    _put(out, attr.GEN_AI_PROVIDER_NAME, a.get(attr.GEN_AI_SYSTEM))
    if (value := a.get(attr.GEN_AI_TOOL_CALL_ARGUMENTS)) is not None:
        _put(out, attr.INPUTS, _json(_maybe_json(value)))
    if (value := a.get(attr.GEN_AI_TOOL_CALL_RESULT)) is not None:
        _put(out, attr.OUTPUTS, _json(_maybe_json(value)))
    # A model span with no explicit inputs/outputs shows its messages there, as our own model spans do.
    _put(out, attr.INPUTS, out.get(attr.GEN_AI_INPUT_MESSAGES) or a.get(attr.GEN_AI_INPUT_MESSAGES))
    _put(out, attr.OUTPUTS, out.get(attr.GEN_AI_OUTPUT_MESSAGES) or a.get(attr.GEN_AI_OUTPUT_MESSAGES))


def _kind(a: Mapping[str, Any], out: Mapping[str, Any]) -> str | None:
    """The kind a span's operation or Traceloop span kind names (a model call wins), else a chat if it has messages.

    Operations are the GenAI conventions' (``chat``), OpenLLMetry's older ``llm.request.type``, or, from MLflow's
    GenAI-semconv export, MLflow's span types that have no GenAI operation, as they are (``RETRIEVER``).
    """
    operation = str(a.get(attr.GEN_AI_OPERATION_NAME) or a.get(attr.LLM_REQUEST_TYPE) or "")
    by_operation = _OPERATIONS.get(operation.lower()) or _NAMED_KINDS.get(operation.upper())
    if by_operation in _MODEL_CALLS:
        return by_operation.value
    kind = _TRACELOOP_KINDS.get(str(a.get(attr.TRACELOOP_SPAN_KIND, "")).lower()) or by_operation
    if kind is None and (out.get(attr.GEN_AI_INPUT_MESSAGES) or a.get(attr.GEN_AI_INPUT_MESSAGES)):
        kind = SpanKind.CHAT_MODEL
    return None if kind is None else kind.value


def _indexed(a: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Remove ``prefix.N.rest`` keys from ``a``; one ``{rest: value}`` dict per index, in index order."""
    start = prefix + "."
    items: dict[int, dict[str, Any]] = {}
    for key in [k for k in a if k.startswith(start)]:
        if match := _INDEXED.fullmatch(key[len(start) :]):
            items.setdefault(int(match[1]), {})[match[2]] = a.pop(key)
    return [items[i] for i in sorted(items)]


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Fill ``key`` unless an earlier convention already did; ``None`` fills nothing."""
    if value is not None and out.get(key) is None:
        out[key] = value


def _sub(flat: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return _indexed(dict(flat), prefix)


def _oi_messages(flat_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages = []
    for flat in flat_messages:
        message: dict[str, Any] = {
            "role": flat.get(attr.OI_MESSAGE_ROLE),
            "content": flat.get(attr.OI_MESSAGE_CONTENT),
        }
        if message["content"] is None and (contents := _sub(flat, attr.OI_MESSAGE_CONTENTS)):
            texts = [c.get(attr.OI_MESSAGE_CONTENT_TEXT) for c in contents]
            message["content"] = "".join(str(t) for t in texts if t is not None)
        if name := flat.get(attr.OI_MESSAGE_NAME):
            message["name"] = name
        if tool_call_id := flat.get(attr.OI_MESSAGE_TOOL_CALL_ID):
            message["tool_call_id"] = tool_call_id
        if calls := _sub(flat, attr.OI_MESSAGE_TOOL_CALLS):
            message["tool_calls"] = [
                _tool_call(
                    c.get(attr.OI_TOOL_CALL_ID),
                    c.get(attr.OI_TOOL_CALL_FUNCTION_NAME),
                    c.get(attr.OI_TOOL_CALL_FUNCTION_ARGUMENTS),
                )
                for c in calls
            ]
        messages.append(message)
    return messages


def _flat_message(flat: dict[str, Any], default_role: str | None = None) -> dict[str, Any]:
    """An OpenLLMetry ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` message."""
    message: dict[str, Any] = {"role": flat.get("role", default_role), "content": flat.get("content")}
    if finish_reason := flat.get("finish_reason"):
        message["finish_reason"] = finish_reason
    if tool_call_id := flat.get("tool_call_id"):
        message["tool_call_id"] = tool_call_id
    if calls := _sub(flat, "tool_calls"):
        message["tool_calls"] = [_tool_call(c.get("id"), c.get("name"), c.get("arguments")) for c in calls]
    return message


def _parts_message(message: Any) -> Any:
    """A GenAI-conventions message (``{role, parts: [...]}``) as ``{role, content}``; others are kept."""
    if not isinstance(message, dict) or "parts" not in message or not isinstance(message["parts"], list):
        return message
    rest = {k: v for k, v in message.items() if k not in ("parts", "role")}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    other: list[Any] = []
    for part in message["parts"]:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "reasoning", "refusal") and isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif kind == "tool_call":
            calls.append(_tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            rest["tool_call_id"] = part.get("id")
            response = part["response"] if "response" in part else part.get("result")  # Pydantic AI says ``result``
            texts.append(response if isinstance(response, str) else _json(response))
        else:
            other.append(part)
    result: dict[str, Any] = {"role": message.get("role"), "content": "".join(texts) if texts else None}
    if other:
        result["parts"] = other  # images, files: kept whole rather than flattened to text
    if calls:
        result["tool_calls"] = calls
    result.update((k, v) for k, v in rest.items() if v not in (None, ""))
    return result


def _tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    call = {"id": call_id, "name": name, "arguments": _maybe_json(arguments)}
    return {k: v for k, v in call.items() if v is not None}


def _strip_prefix(flat: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``{"document.content": ...}`` as ``{"content": ...}``; metadata arrives as JSON text."""
    return {
        (k[len(prefix) :] if k.startswith(prefix) else k): (_maybe_json(v) if k.endswith("metadata") else v)
        for k, v in flat.items()
    }


def _value_json(value: Any, mime_type: Any) -> str | None:
    """OpenInference's ``input.value``: JSON text when its mime type says so, else plain text."""
    if value is None:
        return None
    mime = str(mime_type or "").lower()
    if mime == "application/json":
        return _json(_maybe_json(value))
    if not mime and isinstance(parsed := _maybe_json(value), (dict, list)):
        return _json(parsed)  # many senders omit the mime type of JSON they send
    return _json(value)


def _maybe_json(value: Any) -> Any:
    """Senders put JSON in strings; text that is not JSON is kept as text."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _json(value: Any) -> str:
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None
