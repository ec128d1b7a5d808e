"""Turn any Python value into bounded JSON text without ever raising.

The fast path is one ``orjson.dumps``; values orjson cannot take (cycles, exotic objects, non-str keys of odd
types, ``repr`` that raises) go through a careful walk that replaces what it cannot encode with a readable marker.
Text over the size limit is cut and marked, so one huge argument cannot bloat the store.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson

from . import _settings

MAX_FIELD_BYTES = _settings.size("SPANLITE_MAX_FIELD_BYTES", 256 * 1024, minimum=1024)  # room for the cut marker
MAX_DEPTH = 64
TRUNCATED_KEY = "_spanlite_truncated"
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def to_json(value: Any, max_bytes: int = MAX_FIELD_BYTES) -> str:
    """JSON text for ``value``; never raises, never longer than about ``max_bytes``.

    >>> to_json({"q": "hi", "n": 2})
    '{"q":"hi","n":2}'
    """
    if isinstance(value, (str, bytes, bytearray)) and len(value) > max_bytes:
        return _truncated_text(value, max_bytes)  # a 100 MB string is cut before it is ever encoded
    if isinstance(value, dict) and len(value) > 1:
        for v in value.values():  # a loop, not any(genexpr): this runs for every traced call
            if isinstance(v, (str, bytes, bytearray)) and len(v) > max_bytes:
                return _per_entry(value, max_bytes)
    try:
        data = orjson.dumps(value, default=_default, option=_OPTIONS)
    except Exception:  # cycles, recursion limits, failing reprs: take the careful path
        data = orjson.dumps(_sanitize(value, 0, set()), option=_OPTIONS)
    if len(data) <= max_bytes:
        return data.decode()
    if isinstance(value, dict) and len(value) > 1:
        return _per_entry(value, max_bytes)
    return _truncated(data, max_bytes)


def _per_entry(value: dict[Any, Any], max_bytes: int) -> str:
    """One huge argument should not hide the others: each entry gets its share of the budget."""
    share = max_bytes // len(value)
    return "{" + ",".join(orjson.dumps(_key(k)).decode() + ":" + to_json(v, share) for k, v in value.items()) + "}"


def _truncated_text(value: str | bytes | bytearray, max_bytes: int) -> str:
    keep = max(max_bytes - 100, 0)
    if isinstance(value, str):
        size = len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
        raw = value[:keep].encode("utf-8", "surrogatepass")[:keep]
        # Lone surrogates become U+FFFD (3 bytes each): cut again so the preview stays within budget.
        preview: Any = raw.decode("utf-8", "replace").encode()[:keep].decode("utf-8", "ignore")
    else:
        size, preview = len(value), _bytes(bytes(value[:1024]))
    return orjson.dumps({TRUNCATED_KEY: True, "original_bytes": size, "preview": preview}).decode()


def _truncated(data: bytes, max_bytes: int) -> str:
    preview = data[: max(max_bytes - 100, 0)].decode(errors="ignore")
    return orjson.dumps({TRUNCATED_KEY: True, "original_bytes": len(data), "preview": preview}).decode()


def _default(value: Any) -> Any:
    """orjson's fallback for types it does not know natively."""
    dump = getattr(value, "model_dump", None)  # pydantic v2 models, including every openai/anthropic type
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(bytes(value))
    return _repr(value)


def clean_text(text: str) -> str:
    r"""``text`` as valid Unicode: each lone surrogate (which UTF-8 cannot encode) becomes U+FFFD.

    A surrogate pair, as a str built from UTF-16 may hold, becomes the character it stands for.

    >>> clean_text("bad\ud800 \ud83d\ude00") == "bad\ufffd \U0001f600"
    True
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_value(value: Any) -> Any:
    """A copy of plain data (``dict``, ``list``, ``tuple``) with every string in it, keys too, made valid Unicode."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_value(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean_value(v) for v in value)
    return value


def _sanitize(value: Any, depth: int, seen: set[int]) -> Any:
    """A JSON-safe copy of ``value``: cycles, depth and unencodable leaves become markers."""
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str):
            return clean_text(value)
        return value if not isinstance(value, int) or abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return "<max depth>"
    if id(value) in seen:
        return "<cycle>"
    seen.add(id(value))
    try:
        if isinstance(value, dict):
            return {_key(k): _sanitize(v, depth + 1, seen) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_sanitize(v, depth + 1, seen) for v in value]
        try:
            converted = _default(value)
        except Exception:
            return _repr(value)
        if isinstance(converted, str):
            return converted
        return _sanitize(converted, depth + 1, seen)
    finally:
        seen.discard(id(value))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return clean_text(key)
    return _repr(key) if not isinstance(key, (int, float, bool)) else str(key)


def _bytes(data: bytes) -> dict[str, Any]:
    head = data[:1024]
    return {"bytes": len(data), "base64": base64.b64encode(head).decode(), "truncated": len(data) > len(head)}


def _repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= 10_000 else text[:10_000] + "…"
