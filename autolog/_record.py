"""Small readers both integrations use to turn SDK arguments and results into span attributes.

They return attributes rather than set them: a call sets all of its response attributes at once, because each
``set_attribute(s)`` is a lock and a validation pass in the OTel SDK.

SDK objects are read through ``plain()`` (their own ``model_dump``) so one reader serves a pydantic result, a
``TypedDict`` argument and a dict we reassembled from a stream alike; where a result is read on every call,
``field()`` and ``json_text()`` read and record it as it is, without the dump.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any

from spanlite.tracing import attributes as attr
from spanlite.tracing.serialize import MAX_FIELD_BYTES, to_json

# Never copied into spanlite.inputs: they may carry credentials or are transport details, not the request.
_SECRET_KEYS = frozenset({"extra_headers", "extra_query", "api_key", "timeout"})


_SCALARS = frozenset({str, int, float, bool})


class Plain(dict):  # type: ignore[type-arg]
    """A result we assembled ourselves from a stream, JSON-shaped already: ``plain()`` hands it back as it is."""


_SENTINELS = ("Omit", "NotGiven")


def given(value: Any) -> bool:
    """False for ``None`` and the SDKs' ``omit`` / ``NOT_GIVEN`` sentinels, which helpers pass for every default."""
    return value is not None and (type(value) in _SCALARS or type(value).__name__ not in _SENTINELS)


def plain(value: Any) -> Any:
    """JSON-shaped data for an SDK object (pydantic model, TypedDict, list of them), ``None`` stays ``None``."""
    # Exact builtin types first: messages and reassembled streams are mostly these, and the generic path
    # below (a failed ``model_dump`` lookup, an ABC ``isinstance``) costs several times more per value.
    kind = type(value)
    if value is None or kind in _SCALARS or kind is Plain:
        return value
    if kind is dict:  # scalar values (most of a message) are kept without a call each to plain() and given()
        return {
            k if type(k) is str else str(k): v if type(v) in _SCALARS else plain(v)
            for k, v in value.items()
            if type(v) in _SCALARS or given(v)
        }
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_unset=False, warnings=False)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if given(v)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def field(data: Any, key: str) -> Any:
    """``data[key]`` of a dict, ``data.key`` of an SDK object, ``None`` when missing: one reader for a result as the
    SDK returned it and for a dict a stream was folded into, so a result need not be dumped to be read."""
    return data.get(key) if isinstance(data, dict) else getattr(data, key, None)


def fields(data: Any, *keys: str) -> tuple[Any, ...]:
    """``field(data, key)`` for each key, in one call (a result's fields are read on every call)."""
    if isinstance(data, dict):
        return tuple(map(data.get, keys))
    n = len(keys)  # map over builtins, not a generator: no Python frame per key
    return tuple(map(getattr, repeat(data, n), keys, repeat(None, n)))


def json_text(value: Any) -> str:
    """``to_json(plain(value))``; for a pydantic model, the same text from pydantic's own serialiser, which spares
    building the dicts first (about half the cost of recording a chat response)."""
    if _pydantic_json(type(value)):  # type: ignore[arg-type]  # a class is Hashable; mypy sees type.__hash__ unbound
        # What model_dump_json(warnings=False) returns, without its Python wrapper passing on a dozen defaults.
        text = value.__pydantic_serializer__.to_json(value, warnings=False).decode()
        if len(text) <= MAX_FIELD_BYTES // 4 or len(text.encode()) <= MAX_FIELD_BYTES:
            return text  # type: ignore[no-any-return]
    return to_json(plain(value))


@functools.cache
def _pydantic_json(cls: type) -> bool:
    """Whether ``cls`` serialises as pydantic v2 does, neither method overridden (pydantic v1 shims, LiteLLM)."""
    base = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    return (
        isinstance(base, type)
        and issubclass(cls, base)
        and getattr(cls, "model_dump", None) is getattr(base, "model_dump", None)
        and getattr(cls, "model_dump_json", None) is getattr(base, "model_dump_json", None)
    )


def get(data: Any, *path: str | int) -> Any:
    """``data[path0][path1]…`` on plain data, ``None`` where anything along the way is missing."""
    for key in path:
        if type(data) is dict or isinstance(data, Mapping):  # exact dict first: an ABC check costs more
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def inputs(kwargs: Mapping[str, Any], content_keys: Iterable[str], content: bool) -> dict[str, Any]:
    """The request as the generic viewer shows it: the caller's arguments minus secrets (and contents if asked)."""
    dropped = _SECRET_KEYS if content else _SECRET_KEYS | frozenset(content_keys)
    return {k: v for k, v in kwargs.items() if k not in dropped and (type(v) in _SCALARS or given(v))}


def request_attributes(kwargs: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """``{attribute: kwargs[name]}`` for each request parameter the caller actually gave."""
    values: dict[str, Any] = {}
    for key, name in params.items():
        value = kwargs.get(name)
        if given(value) and not isinstance(value, bool):
            values[key] = [value] if key == attr.GEN_AI_REQUEST_STOP_SEQUENCES and isinstance(value, str) else value
    return values


def span_name(operation: str, model: Any) -> str:
    """``chat gpt-4o``: the GenAI convention's span name."""
    return f"{operation} {model}" if given(model) else operation


def usage_attributes(
    *,
    input_tokens: Any = None,
    output_tokens: Any = None,
    cache_read: Any = None,
    cache_creation: Any = None,
    reasoning: Any = None,
) -> dict[str, int]:
    """The token counts that are counts (ints), under their GenAI attribute names."""
    counts = {}
    for key, value in (
        (attr.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
        (attr.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
        (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, cache_read),
        (attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, cache_creation),
        (attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, reasoning),
    ):  # a loop, not a comprehension: one Python frame less on every call
        if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
            counts[key] = value
    return counts


def response_attributes(*, response_id: Any, model: Any, finish_reasons: list[Any]) -> dict[str, Any]:
    """Response id, model and finish reasons, each only when the response had it."""
    values: dict[str, Any] = {}
    if given(response_id):
        values[attr.GEN_AI_RESPONSE_ID] = str(response_id)
    if given(model):
        values[attr.GEN_AI_RESPONSE_MODEL] = str(model)
    # Most reasons are plain str: kept as they are, without a call to given() each.
    if reasons := [r if type(r) is str else str(r) for r in finish_reasons if type(r) is str or given(r)]:
        values[attr.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    return values


def text_part(text: Any) -> dict[str, Any]:
    return {"type": "text", "content": text}


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": parse_arguments(arguments)}


def parse_arguments(arguments: Any) -> Any:
    """Tool arguments as data when they are JSON text (OpenAI sends text), else as they are."""
    if isinstance(arguments, str):
        import orjson

        try:
            return orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return arguments
    return arguments
