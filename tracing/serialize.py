"""Turn any Python value into bounded JSON text without ever raising, and bound plain text.

The fast path is one ``orjson.dumps``; values orjson cannot take (cycles, exotic objects, non-str keys of odd
types, ``repr`` that raises) go through a careful walk that replaces what it cannot encode with a readable marker.
Text over the size limit is cut and marked, so one huge argument cannot bloat the store.

``plain_json`` is ``to_json`` for plain data only: it refuses (``None``) a value whose encoding would run the app's
own code (a ``__repr__``, a pydantic ``model_dump``), which the caller can then render later, off the app's thread.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

import orjson

from . import _settings

MAX_FIELD_BYTES = _settings.size("SPANLITE_MAX_FIELD_BYTES", 256 * 1024, minimum=1024)  # room for the cut marker
# Names (of spans, events, attribute keys) and ids (session, user) are labels to list and filter by, not content:
# 2 KiB holds any sensible one, a long URL or a query included. A failure's status message is kept as short: the
# exception's full message is in its event.
MAX_NAME_BYTES = 2 * 1024
MAX_DEPTH = 64
TRUNCATED_KEY = "_spanlite_truncated"
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
# Characters of API keys, tokens, base64 and JWTs; words longer than this are no credential format we know.
_LONGEST_WORD = 512
_TRAILING_WORD = re.compile(rf"[A-Za-z0-9_\-+/=.:]{{1,{_LONGEST_WORD}}}\Z")
_UNCHANGING = frozenset((str, int, float, bool, type(None)))  # taken as they are: nothing can change them later


class _NotPlain(Exception):
    """Raised inside ``plain_json``'s walk on meeting a value that only the app's own code could render."""


def to_json(value: Any, max_bytes: int = MAX_FIELD_BYTES, *, _with: Any = None) -> str:
    """JSON text for ``value``; never raises, never longer than about ``max_bytes``.

    >>> to_json({"q": "hi", "n": 2})
    '{"q":"hi","n":2}'
    """
    default = _default if _with is None else _with  # ``_with``: ``plain_json``'s
    if isinstance(value, (str, bytes, bytearray)) and len(value) > max_bytes:
        return _truncated_text(value, max_bytes)  # a 100 MB string is cut before it is ever encoded
    if isinstance(value, dict) and len(value) > 1:
        for v in value.values():  # a loop, not any(genexpr): this runs for every traced call
            if isinstance(v, (str, bytes, bytearray)) and len(v) > max_bytes:
                return _per_entry(value, max_bytes, default)
    try:
        data = orjson.dumps(value, default=default, option=_OPTIONS)
    except Exception as exc:  # cycles, recursion limits, failing reprs: take the careful path
        if isinstance(exc.__cause__, _NotPlain):
            raise _NotPlain from None
        data = orjson.dumps(_sanitize(value, 0, set(), default), option=_OPTIONS)
    if len(data) <= max_bytes:
        return data.decode()
    if isinstance(value, dict) and len(value) > 1:
        return _per_entry(value, max_bytes, default)
    return _truncated(data, max_bytes)


def plain_json(value: Any, max_bytes: int = MAX_FIELD_BYTES) -> str | None:
    """``to_json(value)`` if encoding it runs none of the app's code, else ``None``.

    Plain data is what orjson encodes by itself: dicts, lists, tuples, strings, numbers, ``None``, dataclasses,
    enums, dates, UUIDs, numpy arrays; and sets and bytes. Anything else (pydantic models, objects whose ``repr``
    would be called) is refused as soon as it is met.

    >>> plain_json({"q": "hi"}), plain_json(object())
    ('{"q":"hi"}', None)
    """
    try:
        return to_json(value, max_bytes, _with=_plain_default)
    except _NotPlain:
        return None


def snapshot(value: Any) -> Any:
    """``value`` for ``to_json`` to encode later: a dict, list or tuple is copied, one level deep, with each plain
    part of it encoded now (so that it is recorded as it is now) and the app's objects kept as they are.

    >>> to_json(snapshot({"q": "hi", "obj": object})) == to_json({"q": "hi", "obj": object})
    True
    """
    if type(value) is dict:
        return {k: _snapshot_part(v) for k, v in value.items()}
    if type(value) is list or type(value) is tuple:
        return [_snapshot_part(v) for v in value]
    return value


def _snapshot_part(value: Any) -> Any:
    if type(value) in _UNCHANGING:
        return value
    try:
        return orjson.Fragment(orjson.dumps(value, default=_plain_default, option=_OPTIONS))
    except Exception:  # an object of the app's (or data orjson cannot take as it is): encoded later, whole
        return value


def bounded_text(text: str, max_bytes: int) -> str:
    """``text`` if it holds at most ``max_bytes`` of UTF-8, else its start and a marker, ``max_bytes`` in all.

    >>> bounded_text("x" * 100, 60)
    'xxxxxxxxxxxxxxxxxxxxxxx…[truncated by spanlite: 100 bytes]'
    """
    chars = len(text)
    if chars <= max_bytes and (chars <= max_bytes // 4 or text.isascii()):  # isascii() is O(1) in CPython
        return text
    size = chars if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size <= max_bytes:
        return text
    marker = f"…[truncated by spanlite: {size} bytes]"
    keep = max(max_bytes - len(marker.encode()), 0)
    return _whole_words(text[:keep].encode("utf-8", "surrogatepass")[:keep].decode("utf-8", "ignore")) + marker


def _per_entry(value: dict[Any, Any], max_bytes: int, default: Any) -> str:
    """One huge argument should not hide the others: each entry gets its share of the budget."""
    share = max_bytes // len(value)
    plain = default is _plain_default
    return (
        "{"
        + ",".join(
            orjson.dumps(_key(k, plain)).decode() + ":" + to_json(v, share, _with=default) for k, v in value.items()
        )
        + "}"
    )


def _truncated_text(value: str | bytes | bytearray, max_bytes: int) -> str:
    keep = max(max_bytes - 100, 0)
    if isinstance(value, str):
        size = len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
        raw = value[:keep].encode("utf-8", "surrogatepass")[:keep]
        # Lone surrogates become U+FFFD (3 bytes each): cut again so the preview stays within budget.
        preview: Any = _whole_words(raw.decode("utf-8", "replace").encode()[:keep].decode("utf-8", "ignore"))
    else:
        size, preview = len(value), _bytes(bytes(value[:1024]))
    return _marked(size, preview, max_bytes)


def _truncated(data: bytes, max_bytes: int) -> str:
    return _marked(len(data), _whole_words(data[: max(max_bytes - 100, 0)].decode(errors="ignore")), max_bytes)


def _whole_words(cut: str) -> str:
    """``cut`` without the word it ends in, which the cut may have split: a credential cut short would no longer
    match its redaction pattern, and its start would be stored (redaction runs on what is stored)."""
    tail = _TRAILING_WORD.search(cut[-_LONGEST_WORD - 1 :])
    return cut[: len(cut) - len(tail.group())] if tail else cut


def _marked(size: int, preview: Any, max_bytes: int) -> str:
    """The mark of a value cut from ``size`` bytes, with the start of it; a text preview is cut again by what
    escaping it added (quotes and backslashes in a JSON preview), each character cut saving a byte at least."""
    data = orjson.dumps({TRUNCATED_KEY: True, "original_bytes": size, "preview": preview})
    if len(data) > max_bytes and isinstance(preview, str) and preview:
        preview = preview[: max(len(preview) - (len(data) - max_bytes), 0)]
        data = orjson.dumps({TRUNCATED_KEY: True, "original_bytes": size, "preview": preview})
    return data.decode()


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


def _plain_default(value: Any) -> Any:
    """``_default`` for the built-in types only: their subclasses may run the app's code (``__iter__``, ...)."""
    kind = type(value)
    if kind is set or kind is frozenset:
        return list(value)
    if kind is bytes or kind is bytearray or kind is memoryview:
        return _bytes(bytes(value))
    raise _NotPlain


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


def _sanitize(value: Any, depth: int, seen: set[int], default: Any = _default) -> Any:
    """A JSON-safe copy of ``value``: cycles, depth and unencodable leaves become markers."""
    if type(value) is orjson.Fragment:  # a part encoded already (``snapshot``)
        return value
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
        plain = default is _plain_default
        if isinstance(value, dict):
            return {_key(k, plain): _sanitize(v, depth + 1, seen, default) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_sanitize(v, depth + 1, seen, default) for v in value]
        try:
            converted = default(value)
        except _NotPlain:
            raise
        except Exception:
            return _repr(value)
        if isinstance(converted, str):
            return converted
        return _sanitize(converted, depth + 1, seen, default)
    finally:
        seen.discard(id(value))


def _key(key: Any, plain: bool = False) -> str:
    if isinstance(key, str):
        return clean_text(key)
    if isinstance(key, (int, float, bool)):
        return str(key)
    if plain and key is not None:  # its repr could be the app's code
        raise _NotPlain
    return _repr(key)


def _bytes(data: bytes) -> dict[str, Any]:
    head = data[:1024]
    return {"bytes": len(data), "base64": base64.b64encode(head).decode(), "truncated": len(data) > len(head)}


def _repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= 10_000 else text[:10_000] + "…"
